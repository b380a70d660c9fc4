CREATE ARRAY clim WITH (chunks = (12, 153, 281)) AS SELECT extract(month FROM time) AS month, avg(t2m) AS t2m FROM era5 GROUP BY month, lat, lon
