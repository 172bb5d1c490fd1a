//! XML reading under the safety rules every 特定健診 file is read with.
//!
//! * The bytes are decoded first: UTF-8 (with or without BOM) by default, Shift_JIS or
//!   EUC-JP when the XML declaration names them; anything else is refused.
//! * A `<!DOCTYPE …>` is refused outright, so no DTD, internal or external entity is ever
//!   read or resolved. Entity references other than the five predefined ones are refused;
//!   character references are resolved.
//! * Size, element depth and text length are capped.
//! * Elements come out with their local name, whether they are in the expected namespace,
//!   and their attributes decoded; every failure is an `Issue` with a byte offset or an
//!   element path, never a value.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use super::location::ElementPath;
use crate::error::{ErrorCode, Issue};

/// The XML Schema instance namespace (`xsi:type`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Caps applied while reading one XML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most observations in one document.
    pub max_observations: usize,
    /// Longest text content of one element, in bytes.
    pub max_text_bytes: usize,
}

impl Default for DocumentLimits {
    /// 16 MiB, depth 64, 10 000 observations, 64 KiB of text per element. A real
    /// checkup document is 10–50 KiB with depth about 12 and 20–120 observations.
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_observations: 10_000,
            max_text_bytes: 64 * 1024,
        }
    }
}

/// An attribute with its local name; `xsi` is true for attributes in the XSI namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Attr {
    pub local: String,
    pub xsi: bool,
    pub value: String,
}

/// The attributes of the current element, decoded. The buffers are reused from element
/// to element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Attrs {
    items: Vec<Attr>,
    len: usize,
}

impl Attrs {
    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, local: &str, xsi: bool, value: &str) {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                slot.local.clear();
                slot.local.push_str(local);
                slot.xsi = xsi;
                slot.value.clear();
                slot.value.push_str(value);
            }
            None => self.items.push(Attr {
                local: local.to_owned(),
                xsi,
                value: value.to_owned(),
            }),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Attr> {
        self.items.iter().take(self.len)
    }

    /// A non-namespaced attribute by local name.
    pub fn get(&self, local: &str) -> Option<&str> {
        self.iter()
            .find(|a| !a.xsi && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// `xsi:type`, without any namespace prefix on the type name (`PQ`, `CD`, …).
    pub fn xsi_type(&self) -> Option<&str> {
        self.iter()
            .find(|a| a.xsi && a.local == "type")
            .map(|a| a.value.rsplit(':').next().unwrap_or(&a.value))
    }
}

/// The element that just opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub local: String,
    /// True when it is in the namespace the reader expects.
    pub in_ns: bool,
    pub attrs: Attrs,
}

/// One step of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    /// An element opens; see `SafeReader::element`. An empty element (`<x/>`) is
    /// reported as `Open` followed by `Close`.
    Open,
    Close,
    Text(Cow<'a, str>),
    End,
}

/// Decodes the bytes of an XML file into text, following its declaration.
pub(crate) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, Issue> {
    let text = decode_text(bytes)?;
    // XML 1.0 `Char`: no control characters but tab, CR and LF (a raw NUL is not XML,
    // and no database should be handed one).
    if let Some(at) = text
        .bytes()
        .position(|b| b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n'))
    {
        return Err(Issue::error(
            ErrorCode::TokuteiNotXml,
            format!("byte {at}"),
            "a control character XML does not allow (below U+0020 other than tab, CR and LF)",
        ));
    }
    Ok(text)
}

fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, Issue> {
    let refuse = |message: &str| Issue::error(ErrorCode::TokuteiEncoding, "byte 0", message);
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|e| invalid_utf8(e.valid_up_to() + 3));
    }
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(refuse("UTF-16 is not accepted; 特定健診 files are UTF-8"));
    }
    let label = declared_encoding(bytes);
    let encoding = match label.as_deref() {
        None => encoding_rs::UTF_8,
        Some(l) => encoding_rs::Encoding::for_label(l.as_bytes())
            .ok_or_else(|| refuse("the XML declaration names an unknown encoding"))?,
    };
    if encoding == encoding_rs::UTF_8 {
        return std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| invalid_utf8(e.valid_up_to()));
    }
    if encoding != encoding_rs::SHIFT_JIS && encoding != encoding_rs::EUC_JP {
        return Err(refuse(
            "only UTF-8, Shift_JIS and EUC-JP are accepted for 特定健診 files",
        ));
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| refuse("the bytes are not valid in the declared encoding"))
}

fn invalid_utf8(at: usize) -> Issue {
    Issue::error(
        ErrorCode::TokuteiEncoding,
        format!("byte {at}"),
        "not valid UTF-8 (and no other encoding declared)",
    )
}

/// The `encoding` pseudo-attribute of the XML declaration, if there is one.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    match reader.read_event() {
        Ok(Event::Decl(decl)) => decl
            .encoding()
            .and_then(Result::ok)
            .map(std::borrow::Cow::into_owned),
        _ => None,
    }
}

/// A namespace-aware, capped, entity-safe pull reader over decoded text.
pub(crate) struct SafeReader<'a> {
    reader: NsReader<&'a [u8]>,
    namespace: &'static str,
    limits: DocumentLimits,
    pub path: ElementPath,
    /// An empty element's `Close` still to be reported.
    pending_close: bool,
    /// The element last reported closed is still on the path (so the caller can see its
    /// name and depth); it leaves at the next call.
    pending_pop: bool,
    /// The root element has closed.
    root_closed: bool,
    element: Element,
}

impl<'a> SafeReader<'a> {
    /// Reads `text`, reporting elements in `namespace` as `in_ns`.
    pub fn new(text: &'a str, namespace: &'static str, limits: DocumentLimits) -> Self {
        let mut reader = NsReader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            reader,
            namespace,
            limits,
            path: ElementPath::default(),
            pending_close: false,
            pending_pop: false,
            root_closed: false,
            element: Element::default(),
        }
    }

    fn offset_issue(&self, code: ErrorCode, message: &str) -> Issue {
        Issue::error(
            code,
            format!("byte {}", self.reader.buffer_position()),
            message,
        )
    }

    /// The next step. Text inside an element is returned in pieces (text, references,
    /// CDATA); callers concatenate.
    /// On `Close`, `path` still ends with the element that closed.
    pub fn next(&mut self) -> Result<Node<'a>, Issue> {
        if self.pending_pop {
            self.pending_pop = false;
            self.path.pop();
            self.root_closed |= self.path.depth() == 0;
        }
        if self.pending_close {
            self.pending_close = false;
            self.pending_pop = true;
            return Ok(Node::Close);
        }
        loop {
            let (resolved, event) = match self.reader.read_resolved_event() {
                Ok((ns, event)) => (
                    matches!(ns, ResolveResult::Bound(Namespace(n)) if n == self.namespace),
                    event,
                ),
                Err(_) => {
                    return Err(Issue::error(
                        ErrorCode::TokuteiNotXml,
                        format!("byte {}", self.reader.error_position()),
                        "not well-formed XML",
                    ));
                }
            };
            match event {
                Event::DocType(_) => {
                    return Err(self.offset_issue(
                        ErrorCode::TokuteiDoctypeRefused,
                        "a DOCTYPE declaration is not accepted; DTDs and entities are never read",
                    ));
                }
                Event::Start(e) => return self.open(&e, resolved, false),
                Event::Empty(e) => return self.open(&e, resolved, true),
                Event::End(_) => {
                    self.pending_pop = true;
                    return Ok(Node::Close);
                }
                Event::Text(t) => {
                    if self.path.depth() == 0 {
                        if t.trim().is_empty() {
                            continue;
                        }
                        return Err(self.offset_issue(
                            ErrorCode::TokuteiNotXml,
                            "text outside the root element",
                        ));
                    }
                    return Ok(Node::Text(t.xml10_content()));
                }
                Event::CData(c) => {
                    return Ok(Node::Text(Cow::Owned(c.xml10_content().into_owned())));
                }
                Event::GeneralRef(r) => {
                    if r.is_char_ref() {
                        let ch = r.resolve_char_ref().ok().flatten().ok_or_else(|| {
                            self.offset_issue(
                                ErrorCode::TokuteiNotXml,
                                "invalid character reference",
                            )
                        })?;
                        return Ok(Node::Text(Cow::Owned(ch.to_string())));
                    }
                    return match resolve_predefined_entity(&r) {
                        Some(s) => Ok(Node::Text(Cow::Borrowed(s))),
                        None => Err(self.offset_issue(
                            ErrorCode::TokuteiUnknownEntity,
                            "entity reference other than amp, lt, gt, quot, apos",
                        )),
                    };
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => {
                    if self.path.depth() > 0 {
                        return Err(self.offset_issue(
                            ErrorCode::TokuteiNotXml,
                            "the document ends inside an element",
                        ));
                    }
                    if !self.root_closed {
                        return Err(self.offset_issue(ErrorCode::TokuteiNotXml, "no root element"));
                    }
                    return Ok(Node::End);
                }
            }
        }
    }

    fn open(&mut self, e: &BytesStart<'_>, in_ns: bool, empty: bool) -> Result<Node<'a>, Issue> {
        if self.root_closed {
            return Err(self.offset_issue(ErrorCode::TokuteiNotXml, "a second root element"));
        }
        if self.path.depth() >= self.limits.max_depth {
            return Err(self.offset_issue(
                ErrorCode::TokuteiTooLarge,
                "elements are nested deeper than the limit",
            ));
        }
        let local = e.local_name().into_inner();
        self.path.push(local);
        self.element.local.clear();
        self.element.local.push_str(local);
        self.element.in_ns = in_ns;
        self.element.attrs.clear();
        for attr in e.attributes() {
            let attr =
                attr.map_err(|_| self.path_issue(ErrorCode::TokuteiNotXml, "malformed attribute"))?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (ns, name) = self.reader.resolver().resolve_attribute(attr.key);
            let xsi = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == XSI_NS);
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|_| {
                    self.path_issue(
                        ErrorCode::TokuteiUnknownEntity,
                        "attribute value has an entity reference other than the predefined ones",
                    )
                })?;
            if value.len() > self.limits.max_text_bytes {
                return Err(self.path_issue(ErrorCode::TokuteiTooLarge, "attribute value too long"));
            }
            self.element.attrs.push(name.into_inner(), xsi, &value);
        }
        self.pending_close = empty;
        Ok(Node::Open)
    }

    /// The element reported by the last `Open`.
    pub fn element(&self) -> &Element {
        &self.element
    }

    /// An issue located at the current element.
    pub fn path_issue(&self, code: ErrorCode, message: &str) -> Issue {
        Issue::error(code, self.path.render(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "urn:test";

    fn nodes(text: &str) -> Result<Vec<Node<'_>>, Issue> {
        let mut reader = SafeReader::new(text, NS, DocumentLimits::default());
        let mut out = Vec::new();
        loop {
            match reader.next()? {
                Node::End => return Ok(out),
                node => out.push(node),
            }
        }
    }

    #[test]
    fn control_characters_are_not_xml() {
        let e = decode(b"<a>x\x00</a>").unwrap_err();
        assert_eq!(
            (e.code, e.location.as_str()),
            (ErrorCode::TokuteiNotXml, "byte 4")
        );
        assert!(decode(b"<a>\tx\r\n</a>").is_ok());
    }

    #[test]
    fn decodes_utf8_bom_and_declared_shift_jis() {
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS
            .encode("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a>表</a>");
        assert!(decode(&sjis).unwrap().contains("表"));
        assert_eq!(
            decode(b"\xFF\xFE<\x00").unwrap_err().code,
            ErrorCode::TokuteiEncoding
        );
        assert_eq!(decode(b"<a>\xFF</a>").unwrap_err().location, "byte 3");
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>";
        assert_eq!(decode(latin).unwrap_err().code, ErrorCode::TokuteiEncoding);
    }

    #[test]
    fn reports_namespaces_xsi_type_and_empty_elements() {
        let text = r#"<r xmlns="urn:test" xmlns:x="http://www.w3.org/2001/XMLSchema-instance"><v x:type="PQ" value="1&lt;2"/><o:e xmlns:o="urn:other">t&amp;&#x41;</o:e></r>"#;
        let mut reader = SafeReader::new(text, NS, DocumentLimits::default());
        assert_eq!(reader.next().unwrap(), Node::Open);
        assert_eq!(reader.next().unwrap(), Node::Open);
        let element = reader.element();
        assert_eq!((element.local.as_str(), element.in_ns), ("v", true));
        assert_eq!(element.attrs.xsi_type(), Some("PQ"));
        assert_eq!(element.attrs.get("value"), Some("1<2"));
        assert_eq!(element.attrs.get("type"), None);
        assert_eq!(reader.next().unwrap(), Node::Close);
        assert_eq!(reader.next().unwrap(), Node::Open);
        assert!(!reader.element().in_ns);
        assert_eq!(reader.element().attrs.get("value"), None);
        let nodes = nodes(text).unwrap();
        let text: String = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "t&A");
    }

    #[test]
    fn refuses_doctype_entities_and_malformed_input() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(
            nodes(xxe).unwrap_err().code,
            ErrorCode::TokuteiDoctypeRefused
        );
        assert_eq!(
            nodes("<r>&x;</r>").unwrap_err().code,
            ErrorCode::TokuteiUnknownEntity
        );
        assert_eq!(
            nodes(r#"<r a="&x;"/>"#).unwrap_err().code,
            ErrorCode::TokuteiUnknownEntity
        );
        for bad in ["<r><a></r>", "<r>", "", "<r/><s/>", "text<r/>"] {
            assert_eq!(
                nodes(bad).unwrap_err().code,
                ErrorCode::TokuteiNotXml,
                "{bad}"
            );
        }
    }

    #[test]
    fn caps_depth_and_attribute_length() {
        let deep = "<a>".repeat(70) + &"</a>".repeat(70);
        assert_eq!(nodes(&deep).unwrap_err().code, ErrorCode::TokuteiTooLarge);
        let limits = DocumentLimits {
            max_text_bytes: 4,
            ..DocumentLimits::default()
        };
        let mut reader = SafeReader::new(r#"<a b="12345"/>"#, NS, limits);
        assert_eq!(reader.next().unwrap_err().code, ErrorCode::TokuteiTooLarge);
    }
}
