//! Just enough DER to put a certificate request's subject, byte for byte, into a
//! certificate: read a TLV header, write a length, and re-sign a TBSCertificate.
//! (rcgen models a subject as one value per attribute type, so it cannot express the
//! several `O` groups Kubernetes client certificates carry.)

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
}
