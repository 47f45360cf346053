use super::*;

fn ready(row: &Row) -> (&str, &Map<String, Value>) {
    match row {
        Row::Ready { name, body, .. } => (name, body),
        Row::Bad { reason, .. } => panic!("refused: {reason}"),
    }
}

fn reason(row: &Row) -> &str {
    match row {
        Row::Bad { reason, .. } => reason,
        Row::Ready { name, .. } => panic!("{name} was accepted"),
    }
}

#[test]
fn rows_headers_quotes_comments_and_data_centers() {
    let text = "name,client_id,client_secret,refresh_token,data_center\n\
                # a comment\n\
                acme,1000.A,s1,1000.r1\n\
                \n\
                \"beta\",\"1000.B\",\"s2\",\"1000.r2\",eu\n";
    let rows = parse(text, Some("in"), None);
    assert_eq!(rows.len(), 2);
    let (name, body) = ready(&rows[0]);
    assert_eq!(name, "acme");
    assert_eq!(body["data_center"], "in", "the flag fills a missing column");
    assert_eq!(body["refresh_token"], "1000.r1");
    let (name, body) = ready(&rows[1]);
    assert_eq!(name, "beta");
    assert_eq!(body["data_center"], "eu", "the row wins");
    assert!(!body.contains_key("accounts_url"));
    let rows = parse("acme,1000.A,s1,1000.r1\n", None, Some("http://127.0.0.1:1"));
    assert_eq!(ready(&rows[0]).1["accounts_url"], "http://127.0.0.1:1");
}

#[test]
fn bad_rows_are_refused_without_quoting_their_secrets() {
    let text = "acme,1000.A,topsecret\n\
                bad name!,1000.A,topsecret,1000.rt\n\
                acme,1000.A,,1000.rt\n\
                acme,1000.A,topsecret,1000.rt,mars\n\
                acme,1000.A,topsecret,1000.rt\n\
                acme,1000.A,topsecret,1000.rt\n";
    let rows = parse(text, None, None);
    assert_eq!(rows.len(), 6);
    assert!(reason(&rows[0]).contains("expected 4 or 5 fields"));
    assert!(reason(&rows[1]).contains("invalid connection name"));
    assert!(reason(&rows[2]).contains("client_secret field is empty"));
    assert!(reason(&rows[3]).contains("unknown data center"));
    ready(&rows[4]);
    assert!(reason(&rows[5]).contains("already used on line 5"));
    for row in rows.iter().filter(|r| matches!(r, Row::Bad { .. })) {
        let r = reason(row);
        assert!(!r.contains("topsecret") && !r.contains("1000.rt") && !r.contains("bad name!"));
    }
    let lines: Vec<u64> = rows
        .iter()
        .map(|r| match r {
            Row::Bad { line, .. } | Row::Ready { line, .. } => *line,
        })
        .collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6]);
}
