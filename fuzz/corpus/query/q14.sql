SELECT median(t2m), quantile(t2m, 0.1) AS p10, percentile_cont(0.9) WITHIN GROUP (ORDER BY t2m) AS p90 FROM era5 WHERE time < '2024-01-01' GROUP BY lat, lon
