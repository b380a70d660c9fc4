SELECT date_trunc('day', time, 'Europe/Amsterdam') AS day, sum(value * 0.25) AS mwh FROM power WHERE asset BETWEEN 1 AND 10 GROUP BY asset, day
