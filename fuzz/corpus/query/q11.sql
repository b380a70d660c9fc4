SELECT avg(t2m) FROM era5 WHERE time < '2023-01-08' GROUP BY lat, lon
