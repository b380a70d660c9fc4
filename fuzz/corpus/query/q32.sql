CREATE ARRAY clim AS SELECT extract(month FROM time) AS month, avg(t2m) AS t2m FROM era5 GROUP BY month, lat, lon
