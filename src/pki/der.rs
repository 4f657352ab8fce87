//! Just enough DER to put a certificate request's subject, byte for byte, into a
//! certificate: read a TLV header, write a length, and re-sign a TBSCertificate.
//! (rcgen models a subject as one value per attribute type, so it cannot express the
//! several `O` groups Kubernetes client certificates carry); and write such a subject.

/// `(header length, content length)` of the TLV at the start of `bytes`.
pub fn header(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || bytes.len() < 2 + n {
        return None;
    }
    let len = bytes[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Some((2 + n, len))
}

/// The DER encoding of a length.
pub fn length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

/// A TLV with `tag` around `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(length(content.len()));
    out.extend_from_slice(content);
    out
}

/// A DER X.501 Name in Go's `pkix.Name` order: every organization (`O`), every
/// organizational unit (`OU`), then the common name (`CN`), one UTF8String attribute per
/// relative distinguished name.
pub fn name(common_name: &str, organizations: &[&str], units: &[&str]) -> Vec<u8> {
    const O: [u8; 3] = [0x55, 0x04, 0x0a];
    const OU: [u8; 3] = [0x55, 0x04, 0x0b];
    const CN: [u8; 3] = [0x55, 0x04, 0x03];
    let rdn = |oid: &[u8], value: &str| {
        let mut attribute = tlv(0x06, oid);
        attribute.extend(tlv(0x0c, value.as_bytes()));
        tlv(0x31, &tlv(0x30, &attribute))
    };
    let mut content = Vec::new();
    for o in organizations {
        content.extend(rdn(&O, o));
    }
    for u in units {
        content.extend(rdn(&OU, u));
    }
    content.extend(rdn(&CN, common_name));
    tlv(0x30, &content)
}

/// The slice's offset inside `outer`, when it lies within it.
pub fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 5, 127, 128, 255, 256, 65535, 70000] {
            let encoded = tlv(0x30, &vec![0u8; len]);
            assert_eq!(header(&encoded), Some((encoded.len() - len, len)));
        }
        assert_eq!(header(&[0x30]), None);
        assert_eq!(header(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
    }

    #[test]
    fn names_hold_several_organizations_and_units() {
        use x509_parser::prelude::{FromDer, X509Name};
        let der = name("alice", &["g1", "g2", "g3"], &["u1", "u2"]);
        let (rest, parsed) = X509Name::from_der(&der).expect("a DER Name");
        assert!(rest.is_empty());
        let text = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
            it.map(|a| a.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&mut parsed.iter_organization()), ["g1", "g2", "g3"]);
        assert_eq!(text(&mut parsed.iter_organizational_unit()), ["u1", "u2"]);
        assert_eq!(text(&mut parsed.iter_common_name()), ["alice"]);
    }
}
