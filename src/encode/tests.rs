use super::*;
use crate::message::{Message, Timestamp};

fn msg() -> Message {
    let raw = bytes::Bytes::from_static(b"<13>x");
    let mut m = Message::new(
        raw,
        Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
            offset: 0,
        },
    );
    m.set_owned(Field::Host, b"web-1");
    m.set_owned(Field::Program, b"app");
    m.set_owned(Field::Message, b"said \"hi\", then\nleft");
    m.push_owned_pair(b".SDATA.req.status", b"200");
    m.peer = Some("10.1.2.3:514".parse().unwrap());
    m
}

fn csv(columns: &[&str], f: impl FnOnce(&mut CsvOptions)) -> Encoder {
    let mut o = CsvOptions::new(columns.iter().map(|c| c.to_string()).collect());
    o.topic = "t1".into();
    f(&mut o);
    Encoder::csv(o).unwrap()
}

fn encode(e: &Encoder, m: &Message) -> String {
    let mut out = Vec::new();
    e.encode(m, &RenderContext::default(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn csv_quotes_as_rfc_4180_and_reads_back() {
    let e = csv(
        &[
            "__time__",
            "HOST",
            "PROGRAM",
            "PID",
            "MESSAGE",
            ".SDATA.req.status",
            "missing",
            "__source__",
            "__topic__",
        ],
        |o| {
            o.null_value = "-".into();
            o.header = true;
        },
    );
    let mut head = Vec::new();
    e.header(&mut head);
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "__time__,HOST,PROGRAM,PID,MESSAGE,.SDATA.req.status,missing,__source__,__topic__\n"
    );
    let line = encode(&e, &msg());
    assert_eq!(
        line,
        "1700000000,web-1,app,-,\"said \"\"hi\"\", then\nleft\",200,-,10.1.2.3,t1\n"
    );
}

#[test]
fn csv_with_another_delimiter_quote_and_escape() {
    let e = csv(&["HOST", "MESSAGE"], |o| {
        o.delimiter = b'\t';
        o.quote = b'\'';
        o.escape = b'\\';
    });
    // header(no), the default: an object starts with its first row.
    let mut head = Vec::new();
    e.header(&mut head);
    assert!(head.is_empty());
    let mut m = msg();
    m.set_owned(Field::Message, b"it's\ta \\ tab");
    assert_eq!(encode(&e, &m), "web-1\t'it\\'s\ta \\\\ tab'\n");
    // Quoted for its delimiter alone, with nothing to escape.
    m.set_owned(Field::Message, b"tab\there");
    assert_eq!(encode(&e, &m), "web-1\t'tab\there'\n");
}

#[test]
fn csv_quotes_a_value_for_any_special_byte_at_any_place() {
    // The word-at-a-time search must quote exactly the values a byte-by-byte
    // look would: each special byte (and near misses: high bytes, NUL, a
    // byte one off, a space) at each place of values of 1 to 40 bytes, read
    // in place (MESSAGE) and rendered (MSG, a macro); with a backslash
    // escape (four tests a word) and with the default doubled quote (one
    // has-less-than test a word).
    for escape in [b'\\', b'"'] {
        let e = csv(&["MESSAGE", "MSG"], |o| o.escape = escape);
        let special = |c: u8| matches!(c, b',' | b'"' | b'\r' | b'\n') || c == escape;
        for len in 1..=40 {
            for c in [
                b',', b'"', b'\\', b'\r', b'\n', b'-', b'+', b' ', 0xac, 0xa2, 0, b'a',
            ] {
                for at in 0..len {
                    let mut v = b"abcdefghijklmnopqrstuvwxyz0123456789ABCD"[..len].to_vec();
                    v[at] = c;
                    let mut m = msg();
                    m.set_owned(Field::Message, &v);
                    let mut out = Vec::new();
                    e.encode(&m, &RenderContext::default(), &mut out);
                    let mut want = Vec::new();
                    for _ in 0..2 {
                        if special(c) {
                            want.push(b'"');
                            for &b in &v {
                                if b == b'"' || b == escape {
                                    want.push(escape);
                                }
                                want.push(b);
                            }
                            want.push(b'"');
                        } else {
                            want.extend_from_slice(&v);
                        }
                        want.push(b',');
                    }
                    want.pop();
                    want.push(b'\n');
                    let what = format!("byte {c:#x} at {at} of {len}, escape {escape:#x}");
                    assert_eq!(out, want, "{what}");
                }
            }
        }
    }
    // __time__ and __source__ are never quoted, unless a digit is special.
    let m = msg();
    let e = csv(&["__time__", "__source__"], |_| {});
    assert_eq!(encode(&e, &m), "1700000000,10.1.2.3\n");
    let e = csv(&["__time__", "__source__"], |o| o.delimiter = b'0');
    assert_eq!(encode(&e, &m), "\"1700000000\"0\"10.1.2.3\"\n");
    let e = csv(&["__time__", "__source__"], |o| o.delimiter = b'.');
    assert_eq!(encode(&e, &m), "1700000000.\"10.1.2.3\"\n");
}

#[test]
fn csv_options_that_cannot_work_are_refused() {
    let mut o = CsvOptions::new(vec![]);
    assert!(Encoder::csv(o.clone()).unwrap_err().contains("columns()"));
    o.columns = vec!["HOST".into()];
    o.delimiter = b'"';
    assert!(Encoder::csv(o.clone()).unwrap_err().contains("differ"));
    o.delimiter = b'\n';
    assert!(Encoder::csv(o).unwrap_err().contains("line break"));
}

#[test]
fn json_has_log_service_reserved_fields_then_the_selection() {
    let e = Encoder::json("--scope none --key HOST --key .SDATA.*", "t1").unwrap();
    let line = encode(&e, &msg());
    assert!(line.ends_with("}\n"), "{line}");
    assert!(
        line.starts_with(
            "{\"__time__\":1700000000,\"__topic__\":\"t1\",\"__source__\":\"10.1.2.3\","
        ),
        "{line}"
    );
    assert!(line.contains("\"HOST\":\"web-1\""), "{line}");
    assert!(
        line.contains("\"_SDATA\":{\"req\":{\"status\":\"200\"}}"),
        "{line}"
    );
    assert_eq!(line.matches('\n').count(), 1);
    // Nothing selected: the reserved fields alone, still one valid object;
    // a topic is escaped as any string.
    let e = Encoder::json("--scope none", "").unwrap();
    assert_eq!(
        encode(&e, &msg()),
        "{\"__time__\":1700000000,\"__topic__\":\"\",\"__source__\":\"10.1.2.3\"}\n"
    );
    let e = Encoder::json("--scope none", "a\"b\\c").unwrap();
    assert_eq!(
        encode(&e, &msg()),
        "{\"__time__\":1700000000,\"__topic__\":\"a\\\"b\\\\c\",\"__source__\":\"10.1.2.3\"}\n"
    );
}

/// A Parquet file made of row groups the way a destination makes it (rows,
/// row groups at their offsets, the footer), read back with the parquet
/// crate's own reader.
#[test]
fn parquet_row_groups_and_footer_make_one_readable_file() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let columns: Vec<String> = [
        "HOST",
        "PID:int32",
        ".SDATA.req.status:int64",
        ".SDATA.req.ms:double",
        ".SDATA.req.ok:boolean",
        "__time__:int64",
        "MISSING",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    for codec in [crate::compress::Codec::None, crate::compress::Codec::Snappy] {
        let p = Parquet::new(&columns, codec, "t1").unwrap();
        let (mut file, mut groups) = (Vec::new(), Vec::new());
        let mut nulls = 0;
        for batch in 0..3 {
            let mut rows = Vec::new();
            for i in 0..4 {
                let mut m = msg();
                m.set_owned(Field::Pid, format!("{}", batch * 10 + i).as_bytes());
                m.push_owned_pair(b".SDATA.req.ms", if i == 3 { b"slow" } else { b"1.5" });
                m.push_owned_pair(b".SDATA.req.ok", b"true");
                nulls += p.row(&m, &RenderContext::default(), &mut rows);
            }
            let g = p.group(&mut rows, file.len() as u64).unwrap();
            file.extend_from_slice(&g.bytes);
            groups.push(Parquet::group_meta(&g.record).unwrap());
        }
        assert_eq!(nulls, 3, "the three \"slow\" timings failed to convert");
        file.extend(p.footer(&groups, file.len() as u64).unwrap());
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let rows: Vec<String> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().to_string())
            .collect();
        assert_eq!(rows.len(), 12);
        assert_eq!(
            rows[0],
            "{HOST: \"web-1\", PID: 0, .SDATA.req.status: 200, .SDATA.req.ms: 1.5, \
             .SDATA.req.ok: true, __time__: 1700000000, MISSING: null}"
        );
        assert!(rows[11].contains("PID: 23,") && rows[11].contains(".SDATA.req.ms: null"));
    }
    // An object that never got a row is still a valid file.
    let p = Parquet::new(&columns, crate::compress::Codec::None, "").unwrap();
    let empty = p.footer(&[], 0).unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(empty)).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
}

/// A row group of several pages: a column that outgrows its dictionary
/// (PLAIN), one that keeps it, numbers with nulls and booleans, read back
/// value by value.
#[test]
fn parquet_pages_split_and_dictionaries_fall_back_and_read_back() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::Field as Value;
    let columns: Vec<String> = ["MESSAGE", "HOST", "PID:int64", ".ok:boolean", ".ms:double"]
        .iter()
        .map(|c| c.to_string())
        .collect();
    let n = 45_000;
    for codec in [crate::compress::Codec::Zstd, crate::compress::Codec::Gzip] {
        let p = Parquet::new(&columns, codec, "").unwrap();
        let mut rows = Vec::new();
        for i in 0..n {
            let mut m = msg();
            m.set_owned(Field::Message, format!("unique message {i:08}").as_bytes());
            m.set_owned(Field::Host, format!("host-{}", i % 5).as_bytes());
            if i % 7 != 0 {
                m.set_owned(Field::Pid, format!("{}", i / 3).as_bytes());
            } else {
                m.set_owned(Field::Pid, b"none");
            }
            m.push_owned_pair(b".ok", if i % 3 == 0 { b"yes" } else { b"no" });
            m.push_owned_pair(b".ms", format!("{}.25", i % 100).as_bytes());
            p.row(&m, &RenderContext::default(), &mut rows);
        }
        let g = p.group(&mut rows, 0).unwrap();
        let mut file = g.bytes;
        let meta = Parquet::group_meta(&g.record).unwrap();
        let col = |i: usize| meta.column(i).clone();
        assert!(
            col(0).dictionary_page_offset().is_none(),
            "MESSAGE outgrew its dictionary"
        );
        assert!(col(1).dictionary_page_offset().is_some(), "HOST keeps one");
        let stats = col(2).statistics().unwrap().clone();
        assert_eq!(stats.null_count_opt(), Some((n as u64).div_ceil(7)));
        let bytes = |v: Option<&[u8]>| v.map(<[u8]>::to_vec);
        assert_eq!(
            bytes(stats.min_bytes_opt()),
            Some(0i64.to_le_bytes().to_vec())
        );
        assert_eq!(
            bytes(stats.max_bytes_opt()),
            Some(14999i64.to_le_bytes().to_vec())
        );
        let ms = col(4).statistics().unwrap().clone();
        assert_eq!(
            bytes(ms.min_bytes_opt()),
            Some(0.25f64.to_le_bytes().to_vec())
        );
        assert_eq!(
            bytes(ms.max_bytes_opt()),
            Some(99.25f64.to_le_bytes().to_vec())
        );
        file.extend(p.footer(&[meta], file.len() as u64).unwrap());
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        assert!(reader.get_row_group(0).unwrap().metadata().num_rows() == n as i64);
        for (i, row) in reader.get_row_iter(None).unwrap().enumerate() {
            let row = row.unwrap();
            let v: Vec<&Value> = row.get_column_iter().map(|(_, v)| v).collect();
            assert_eq!(*v[0], Value::Str(format!("unique message {i:08}")));
            assert_eq!(*v[1], Value::Str(format!("host-{}", i % 5)));
            let pid = if i % 7 != 0 {
                Value::Long((i / 3) as i64)
            } else {
                Value::Null
            };
            assert_eq!(*v[2], pid, "row {i}");
            assert_eq!(*v[3], Value::Bool(i % 3 == 0));
            assert_eq!(*v[4], Value::Double((i % 100) as f64 + 0.25));
        }
    }
}

#[test]
fn parquet_strings_are_made_utf8() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    // Read in place (MESSAGE) and rendered (MSG); the stray bytes past the
    // first eight too, and UTF-8 that is valid kept as it is.
    let p = Parquet::new(
        &["MESSAGE".into(), "MSG".into()],
        crate::compress::Codec::None,
        "",
    )
    .unwrap();
    // A stray byte in the first sixteen, and one past them.
    let cases: [(&[u8], &str); 2] = [
        (
            b"caf\xe9 \xff ok \xc3\xa9 \xc3",
            "caf\u{fffd} \u{fffd} ok \u{e9} \u{fffd}",
        ),
        (
            b"sixteen ascii ok, then \xff",
            "sixteen ascii ok, then \u{fffd}",
        ),
    ];
    for (sent, want) in cases {
        let mut m = msg();
        m.set_owned(Field::Message, sent);
        let mut rows = Vec::new();
        p.row(&m, &RenderContext::default(), &mut rows);
        let g = p.group(&mut rows, 0).unwrap();
        let mut file = g.bytes;
        let meta = Parquet::group_meta(&g.record).unwrap();
        file.extend(p.footer(&[meta], file.len() as u64).unwrap());
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        let row = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
        assert_eq!(
            row.to_string(),
            format!("{{MESSAGE: \"{want}\", MSG: \"{want}\"}}")
        );
    }
}

#[test]
fn parquet_columns_are_checked() {
    let none = crate::compress::Codec::None;
    let e = Parquet::new(&["PID:int128".into()], none, "").unwrap_err();
    assert!(e.contains("int128") && e.contains("int32, int64"), "{e}");
    let e = Parquet::new(&["HOST".into(), "HOST:string".into()], none, "").unwrap_err();
    assert!(e.contains("twice"), "{e}");
    assert!(
        Parquet::new(&[], none, "")
            .unwrap_err()
            .contains("columns(")
    );
}

#[test]
fn pair_columns_take_the_last_pair_of_their_name_past_any_number_of_columns() {
    // 72 pair columns: the first 64 are found in one pass, the rest one by
    // one; short names, names sharing their last eight bytes, a column the
    // message lacks and a pair set twice all read as `Message::pair` does.
    let mut names: Vec<String> = vec![
        "a".into(),
        "bb".into(),
        ".a.name.longer.than.sixteen".into(),
        "absent".into(),
    ];
    names.extend((0..68).map(|i| format!(".p.{i}.same_end")));
    let mut m = msg();
    for (i, n) in names.iter().enumerate().filter(|(_, n)| *n != "absent") {
        m.push_owned_pair(n.as_bytes(), format!("v{i}").as_bytes());
    }
    m.push_owned_pair(b".p.3.same_end", b"later");
    m.push_owned_pair(b"a", b"later a");
    m.push_owned_pair(b".p.66.same_end", b"later 66");
    let e = csv(&names.iter().map(String::as_str).collect::<Vec<_>>(), |o| {
        o.null_value = "NULL".into();
    });
    let want: Vec<String> = names
        .iter()
        .map(|n| {
            m.pair(n.as_bytes())
                .map_or("NULL".into(), |v| String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    assert_eq!(want[0], "later a");
    assert_eq!(want[2], "v2");
    assert_eq!(want[3], "NULL");
    assert_eq!(want[4 + 3], "later");
    assert_eq!(want[4 + 66], "later 66");
    assert_eq!(encode(&e, &m), format!("{}\n", want.join(",")));
}

#[test]
fn pair_columns_are_placed_afresh_when_the_names_change() {
    // A thread remembers the last message's pair names per encoder: a name
    // that differs anywhere (one byte in the middle of a 24- or 40-byte name), names
    // in another order, or another encoder in between must place the
    // columns anew, and the same names with new values reuse the places.
    let long = "a.forty.byte.name.0123456789.abcdefghij.";
    let columns = [".a.b.c.d.e.f.g.h.i.j.k.l", "x", long];
    let e1 = csv(&columns, |o| o.null_value = "-".into());
    let e2 = csv(&["x", ".a.b.c.d.e.f.g.h.i.j.k.l"], |o| {
        o.null_value = "-".into()
    });
    let message = |pairs: &[(&str, &str)]| {
        let mut m = msg();
        for (n, v) in pairs {
            m.push_owned_pair(n.as_bytes(), v.as_bytes());
        }
        m
    };
    let mut long_changed = long.to_string();
    long_changed.replace_range(20..21, "X");
    let messages = [
        message(&[(".a.b.c.d.e.f.g.h.i.j.k.l", "1"), ("x", "2"), (long, "3")]),
        message(&[(".a.b.c.d.e.f.g.h.i.j.k.l", "4"), ("x", "5"), (long, "6")]),
        message(&[(".a.b.c.d.e.fXg.h.i.j.k.l", "7"), ("x", "8"), (long, "9")]),
        message(&[
            (".a.b.c.d.e.f.g.h.i.j.k.l", "10"),
            ("x", "11"),
            (&long_changed, "12"),
        ]),
        message(&[
            ("x", "13"),
            (".a.b.c.d.e.f.g.h.i.j.k.l", "14"),
            (long, "15"),
        ]),
        message(&[
            (".a.b.c.d.e.f.g.h.i.j.k.l", "16"),
            ("y", "17"),
            (long, "18"),
        ]),
    ];
    let want = |e_columns: &[&str], m: &Message| {
        let values: Vec<String> = e_columns
            .iter()
            .map(|c| {
                m.pair(c.as_bytes())
                    .map_or("-".into(), |v| String::from_utf8_lossy(v).into_owned())
            })
            .collect();
        format!("{}\n", values.join(","))
    };
    let mut seen = Vec::new();
    for m in &messages {
        for _ in 0..2 {
            seen.push(encode(&e1, m));
            assert_eq!(seen.last().unwrap(), &want(&columns, m));
        }
        assert_eq!(encode(&e2, m), want(&["x", ".a.b.c.d.e.f.g.h.i.j.k.l"], m));
        assert_eq!(encode(&e1, m), want(&columns, m));
    }
    assert_eq!(seen[4], "-,8,9\n");
    assert_eq!(seen[6], "10,11,-\n");
    assert_eq!(seen[8], "14,13,15\n");
    assert_eq!(seen[10], "16,-,18\n");
}
