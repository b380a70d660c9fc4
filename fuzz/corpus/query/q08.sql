SELECT CASE WHEN t2m > 300 THEN t2m END AS hot, round(t2m, 1) AS r FROM era5 WHERE lat = 52 AND lon = 5
