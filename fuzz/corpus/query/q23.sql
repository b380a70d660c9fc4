SELECT max(t2m) FROM era5 WHERE time < '2023-01-08' GROUP BY date_trunc('day', time), lat, lon
