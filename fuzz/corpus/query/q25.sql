SELECT avg(t2m) FROM era5 GROUP BY date_bin('3 hours', time, '2023-01-01T01:00:00Z'), lat, lon
