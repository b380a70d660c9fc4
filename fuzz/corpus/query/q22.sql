SELECT sum(value) OVER (ORDER BY time) AS total FROM power
