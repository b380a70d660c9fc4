SELECT count(t2m) AS hot_hours, avg(t2m) AS hot_mean FROM era5 WHERE t2m > 303.15 GROUP BY lat, lon
