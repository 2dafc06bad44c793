//! The XML S3 speaks: a small element tree read with quick-xml, the few
//! response shapes the client needs, and the one request body it writes
//! (CompleteMultipartUpload).
//!
//! Responses are small (a page of at most 1000 entries), so a tree is simpler
//! than a streaming reader and costs nothing that matters. Namespaces are
//! ignored: S3 and its imitators disagree on whether they send one.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Why a response body was not the XML expected.
#[derive(Debug, thiserror::Error)]
#[error("malformed XML response: {0}")]
pub struct XmlError(pub String);

/// An element: its local name, its text, its child elements.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of child `name`, if present.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The text of child `name`, which must be present.
    pub fn require(&self, name: &str) -> Result<&str, XmlError> {
        self.text_of(name)
            .ok_or_else(|| XmlError(format!("<{}> has no <{name}>", self.name)))
    }

    /// Child `name` parsed as a number, which must be present.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, XmlError> {
        let text = self.require(name)?;
        text.trim()
            .parse()
            .map_err(|_| XmlError(format!("<{name}> is not a number: {text:?}")))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.text_of(name).is_some_and(|t| t.trim() == "true")
    }
}

/// Parses a document into its root element. Leading whitespace is allowed:
/// S3 (and s3s) keep a slow CompleteMultipartUpload alive by sending spaces
/// before the body.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let err = |e: &dyn std::fmt::Display| XmlError(e.to_string());
    loop {
        let event = reader.read_event().map_err(|e| err(&e))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let element = Element {
                    name,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(XmlError("unbalanced end tag".into()));
                };
                // Text between child elements is layout, not content.
                if !done.children.is_empty() {
                    done.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml_content().map_err(|e| err(&e))?);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&data.decode().map_err(|e| err(&e))?);
                }
            }
            Event::GeneralRef(reference) => {
                let Some(top) = stack.last_mut() else {
                    continue;
                };
                if let Some(ch) = reference.resolve_char_ref().map_err(|e| err(&e))? {
                    top.text.push(ch);
                } else {
                    let name = reference.decode().map_err(|e| err(&e))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| XmlError(format!("unknown entity &{name};")))?;
                    top.text.push_str(resolved);
                }
            }
            Event::Eof => {
                return Err(XmlError(
                    "document ends before its root element does".into(),
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// `<CompleteMultipartUpload>` listing `parts` (number, ETag).
pub fn complete_multipart_upload(parts: &[(u32, String)]) -> String {
    let mut out = String::with_capacity(80 + parts.len() * 80);
    out.push_str(r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
    for (number, etag) in parts {
        out.push_str("<Part><PartNumber>");
        out.push_str(&number.to_string());
        out.push_str("</PartNumber><ETag>");
        out.push_str(&quick_xml::escape::escape(etag.as_str()));
        out.push_str("</ETag></Part>");
    }
    out.push_str("</CompleteMultipartUpload>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_text_entities_and_namespaces() {
        let doc = br#"
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <IsTruncated>false</IsTruncated>
              <Contents><Key>a &amp; b &#x263A;/&lt;c&gt;</Key><Size>12</Size></Contents>
              <Contents><Key><![CDATA[x<y]]></Key><Size>0</Size></Contents>
              <Empty/>
            </ListBucketResult>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "ListBucketResult");
        assert!(!root.flag("IsTruncated"));
        let keys: Vec<_> = root
            .children("Contents")
            .map(|c| c.require("Key").unwrap())
            .collect();
        assert_eq!(keys, ["a & b \u{263A}/<c>", "x<y"]);
        assert_eq!(
            root.children("Contents")
                .next()
                .unwrap()
                .number::<u64>("Size")
                .unwrap(),
            12
        );
        assert!(root.child("Empty").is_some());
        assert_eq!(root.text, "");
    }

    #[test]
    fn rejects_truncated_documents() {
        assert!(parse(b"<Error><Code>SlowDown</Code>").is_err());
        assert!(parse(b"   ").is_err());
        assert!(parse(b"<a>&bogus;</a>").is_err());
    }

    #[test]
    fn builds_complete_body_with_escaped_etags() {
        let body = complete_multipart_upload(&[(1, "\"abc\"".into()), (2, "x&y".into())]);
        assert!(
            body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part>")
        );
        assert!(body.contains("<ETag>x&amp;y</ETag>"));
        let root = parse(body.as_bytes()).unwrap();
        assert_eq!(
            root.children("Part")
                .nth(1)
                .unwrap()
                .require("ETag")
                .unwrap(),
            "x&y"
        );
    }
}
