SELECT lat, lon, avg(t2m) AS m FROM era5 GROUP BY lat, lon HAVING avg(t2m) > 290
