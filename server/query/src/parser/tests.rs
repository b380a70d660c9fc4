use super::*;

fn sel(sql: &str) -> Select {
    match parse(sql).unwrap() {
        Statement::Select(s) => *s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn select_with_as_of() {
    let s = sel("SELECT sum(value) FROM power AS OF VERSION 2 WHERE asset IN (1, 2) GROUP BY time");
    assert_eq!(s.from.value, "power");
    assert_eq!(s.as_of, AsOfSpec::Version(2));
    assert_eq!(s.group_by, vec![ExprKind::Ident("time".into()).into()]);
    let s = sel("SELECT * FROM power FOR SYSTEM_TIME AS OF '2026-01-01T00:00:00Z'");
    assert_eq!(s.as_of, AsOfSpec::Timestamp("2026-01-01T00:00:00Z".into()));
    let s = sel("SELECT * FROM power AS OF TIMESTAMP '2026-01-01T00:00:00Z';");
    assert_eq!(s.as_of, AsOfSpec::Timestamp("2026-01-01T00:00:00Z".into()));
}

#[test]
fn syntax_error_position() {
    let e = parse("SELECT t2m\nFRM era5").unwrap_err();
    let (line, col) = e.position().unwrap();
    assert_eq!((line, col), (2, 5), "{e}"); // FRM parses as an alias of t2m
    let e = parse("SELECT 'abc").unwrap_err();
    assert!(e.position().is_some());
    let e = parse("SELECT a FROM").unwrap_err();
    assert!(e.position().is_some(), "{e:?}");
    // A statement that ends right after EXPLAIN is an error, not a panic.
    let e = parse("EXPLAIN ANALYZE").unwrap_err();
    assert!(e.to_string().contains("end of input"), "{e}");
}

#[test]
fn forced_layout_option() {
    let s = sel("SELECT t2m FROM era5 WITH (layout = 'maps') WHERE lat = 5");
    assert_eq!(s.layout.map(|n| n.value).as_deref(), Some("maps"));
    let s = sel("SELECT t2m FROM era5 AS OF VERSION 2 WITH (layout = pencils)");
    assert_eq!(s.layout.map(|n| n.value).as_deref(), Some("pencils"));
    assert!(parse("SELECT t2m FROM era5 WITH (nolock)").is_err());
    assert!(parse("SELECT t2m FROM era5 WITH (layout = 'a', layout = 'b')").is_err());
}

#[test]
fn negative_literals_and_cast() {
    let s = sel("SELECT CAST(t2m AS DOUBLE) FROM era5 WHERE lon > -5");
    let Some(ExprKind::Binary { right, .. }) = s.filter.map(|f| f.kind) else {
        panic!()
    };
    assert!(matches!(right.kind, ExprKind::Number { value, .. } if value == -5.0));
}

#[test]
fn extract_and_within_group_keep_their_sql_form_and_spans() {
    let sql = "SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY t2m) AS p FROM era5 GROUP BY extract(doy FROM time)";
    let s = sel(sql);
    let SelectItem::Expr { expr, .. } = &s.items[0] else {
        panic!()
    };
    assert_eq!(
        expr.to_string(),
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY t2m)"
    );
    // The span covers the WITHIN GROUP clause.
    assert_eq!((expr.span.column, expr.span.end_column), (8, 56));
    let g = &s.group_by[0];
    assert_eq!(g.to_string(), "extract(doy FROM time)");
    assert_eq!(g.span.column, 81);
    let ExprKind::Func { args, .. } = &g.kind else {
        panic!()
    };
    // The field's word, for errors about it.
    assert_eq!((args[0].span.column, args[0].span.end_column), (89, 92));
}

#[test]
fn join_of_two_arrays() {
    let s = sel(
        "SELECT e.t2m - c.t2m AS a FROM era5 e JOIN clim AS c ON extract(month FROM e.time) = c.month AND e.lat = c.lat",
    );
    assert_eq!(s.from.value, "era5");
    let j = s.join.expect("a join");
    assert_eq!(j.left_alias.map(|a| a.value).as_deref(), Some("e"));
    assert_eq!(j.right.value, "clim");
    assert_eq!(j.right_alias.map(|a| a.value).as_deref(), Some("c"));
    assert_eq!(
        j.on.to_string(),
        "((extract(month FROM e.time) = c.month) AND (e.lat = c.lat))"
    );
    let SelectItem::Expr { expr, .. } = &s.items[0] else {
        panic!("an expression")
    };
    assert_eq!(expr.to_string(), "(e.t2m - c.t2m)");
    // Aliases need a join; joins need ON; one join at most.
    for (sql, want) in [
        ("SELECT t2m FROM era5 e", "aliases"),
        ("SELECT 1 FROM a JOIN b USING (lat)", "ON"),
        ("SELECT 1 FROM a CROSS JOIN b", "JOIN"),
        (
            "SELECT 1 FROM a JOIN b ON a.x = b.x JOIN c ON a.x = c.x",
            "at most two",
        ),
    ] {
        let e = parse(sql).unwrap_err();
        assert!(e.to_string().contains(want), "{sql}: {e}");
        assert!(e.position().is_some(), "{sql}: {e}");
    }
}

#[test]
fn group_by_names_belong_to_their_own_select() {
    // The subquery's GROUP BY names its month key; the outer GROUP BY names nothing.
    let s = sel("SELECT max(t2m) FROM (SELECT avg(t2m) AS t2m FROM era5 \
         GROUP BY extract(month FROM time) AS month, lat AS y, lon) s GROUP BY month");
    assert_eq!(s.group_names, vec![None]);
    let inner = s.from_query.expect("a subquery in FROM");
    let names: Vec<Option<String>> = inner
        .group_names
        .iter()
        .map(|n| n.as_ref().map(|n| n.value.clone()))
        .collect();
    assert_eq!(names, [Some("month".into()), Some("y".into()), None]);
    assert_eq!(inner.group_by.len(), 3);
    // CAST(... AS type) inside a key is not a name.
    let s = sel("SELECT avg(v) FROM a GROUP BY floor(CAST(x AS DOUBLE) / 2) AS b");
    assert_eq!(
        s.group_names[0].as_ref().map(|n| n.value.as_str()),
        Some("b")
    );
}

#[test]
fn ctes_and_subqueries_are_named_queries() {
    let s = sel(
        "WITH c AS (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon) \
         SELECT e.t2m - c.t2m FROM era5 e JOIN c ON e.lat = c.lat AND e.lon = c.lon",
    );
    assert_eq!(s.ctes.len(), 1);
    assert_eq!(s.ctes[0].name.value, "c");
    assert_eq!(s.ctes[0].query.from.value, "era5");
    let j = s.join.expect("a join");
    assert_eq!(
        (j.right.value.as_str(), j.right_query.is_none()),
        ("c", true)
    );
    let s = sel("SELECT e.t2m FROM era5 e JOIN (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat) AS m ON e.lat = m.lat");
    let j = s.join.expect("a join");
    assert_eq!(j.right.value, "m");
    assert_eq!(j.right_query.expect("a subquery").group_by.len(), 1);
}
