//! Parsing PEM certificates and private keys in the shapes users bring them.
//!
//! `rcgen` with `ring` signs only with PKCS#8 keys; CA keys made by Go tools or OpenSSL are
//! often PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). Those are wrapped into
//! PKCS#8 here, which is a fixed DER envelope around the same key.

use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::pem::{PemObject, SectionKind};
use x509_parser::prelude::X509Certificate;

/// DER of the first `CERTIFICATE` block of a PEM bundle.
pub fn first_cert_der(pem_text: &str) -> Result<Vec<u8>, String> {
    labelled(pem_text, "CERTIFICATE")?
        .into_iter()
        .next()
        .ok_or_else(|| "no CERTIFICATE block found".to_string())
}

/// DER of every PEM block labelled `label` (e.g. `CERTIFICATE`, `CERTIFICATE REQUEST`).
pub fn labelled(pem_text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let kind = SectionKind::try_from(label.as_bytes())
        .map_err(|()| format!("unsupported PEM label {label}"))?;
    Ok(pem_blocks(pem_text)?
        .into_iter()
        .filter(|(tag, _)| *tag == kind)
        .map(|(_, der)| der)
        .collect())
}

/// Parses a private key in PKCS#8, PKCS#1 (RSA) or SEC1 (EC P-256/P-384) PEM.
pub fn parse_key(pem_text: &str) -> Result<KeyPair, String> {
    if pem_text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err("the key is encrypted; decrypt it first (openssl pkey -in <key>)".into());
    }
    let blocks = pem_blocks(pem_text)?;
    let key = blocks.into_iter().find(|(tag, _)| {
        matches!(
            tag,
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
        )
    });
    let pkcs8 = match key {
        Some((SectionKind::RsaPrivateKey, der)) => wrap_pkcs8(&RSA_ALGORITHM, &der),
        Some((SectionKind::EcPrivateKey, der)) => {
            let curve = ec_curve_oid(&der).ok_or("unsupported EC curve (use P-256 or P-384)")?;
            let mut alg = Vec::from(EC_PUBLIC_KEY_OID);
            alg.extend_from_slice(curve);
            wrap_pkcs8(&der_tlv(0x30, &alg), &der)
        }
        Some((_, der)) => der,
        // A key block the PEM reader does not know (`ENCRYPTED PRIVATE KEY`,
        // `OPENSSH PRIVATE KEY`) is named rather than reported missing.
        None => {
            return Err(begin_labels(pem_text)
                .find(|label| label.ends_with("PRIVATE KEY"))
                .map_or_else(
                    || "no PRIVATE KEY block found".to_string(),
                    |label| format!("unsupported key type {label}"),
                ));
        }
    };
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8.into());
    KeyPair::try_from(&key_der).map_err(|e| e.to_string())
}

/// True when `key` is the private half of the certificate's public key.
pub fn spki_matches(cert: &X509Certificate<'_>, key: &KeyPair) -> bool {
    cert.public_key().raw == key.subject_public_key_info().as_slice()
}

/// Every block of a PEM text that `rustls-pki-types` knows, in order; an error for a
/// broken block or a text with no block at all. As before that reader, lines may be
/// indented and RFC 1421 header lines (`Name: value`) are skipped.
fn pem_blocks(text: &str) -> Result<Vec<(SectionKind, Vec<u8>)>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.contains(':'))
        .collect();
    let text = lines.join("\n");
    let blocks = <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM: {e}"))?;
    if blocks.is_empty() && begin_labels(&text).next().is_none() {
        return Err("no PEM block found".into());
    }
    Ok(blocks)
}

/// The labels of a text's `-----BEGIN <label>-----` lines.
fn begin_labels(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    })
}

// AlgorithmIdentifier { rsaEncryption, NULL }
const RSA_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
// OID id-ecPublicKey
const EC_PUBLIC_KEY_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Finds the named curve in a SEC1 ECPrivateKey (its `[0] parameters` field).
fn ec_curve_oid(sec1: &[u8]) -> Option<&'static [u8]> {
    let contains = |needle: &[u8]| sec1.windows(needle.len()).any(|w| w == needle);
    if contains(&P256_OID) {
        Some(&P256_OID)
    } else if contains(&P384_OID) {
        Some(&P384_OID)
    } else {
        None
    }
}

/// PrivateKeyInfo { version 0, algorithm, privateKey OCTET STRING }.
fn wrap_pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(algorithm);
    body.extend(der_tlv(0x04, key));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip() {
        let key = KeyPair::generate().expect("generate");
        let parsed = parse_key(&key.serialize_pem()).expect("parse");
        assert_eq!(parsed.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_key("").is_err());
        assert!(parse_key("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----").is_err());
        assert!(parse_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
        assert!(first_cert_der("-----BEGIN CERTIFICATE-----\nAA").is_err());
        assert!(first_cert_der("not PEM at all").is_err());
        assert!(first_cert_der("-----BEGIN CERTIFICATE-----\nAAAA\n-----END KEY-----").is_err());
        assert!(
            first_cert_der("-----BEGIN CERTIFICATE-----\n\u{0}\u{ff}\n-----END CERTIFICATE-----")
                .is_err()
        );
        assert!(labelled("-----BEGIN X-----\nAAAA\n-----END X-----", "X").is_err());
    }

    /// What the hand-written reader accepted and the library reader keeps accepting:
    /// bundles with text around blocks, CRLF, indentation, header lines, blocks of other
    /// kinds; and the messages for keys it cannot use.
    #[test]
    fn pem_shapes() {
        let key = KeyPair::generate().expect("generate");
        let pem = key.serialize_pem();
        let body: Vec<&str> = pem.lines().collect();
        let indented: String = body.iter().map(|l| format!("    {l}\n")).collect();
        let crlf = pem.replace('\n', "\r\n");
        let with_header = format!(
            "{}\nComment: made by hand\n{}",
            body[0],
            body[1..].join("\n")
        );
        let bundle = format!(
            "subject=CN = x\n-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n{pem}\ntrailing text\n"
        );
        for text in [&pem, &indented, &crlf, &with_header, &bundle] {
            let parsed = parse_key(text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(parsed.public_key_raw(), key.public_key_raw());
        }
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert")
            .pem();
        let chain = format!("{cert}{pem}{cert}");
        assert_eq!(labelled(&chain, "CERTIFICATE").expect("certs").len(), 2);
        assert!(
            labelled(&chain, "CERTIFICATE REQUEST")
                .expect("none")
                .is_empty()
        );
        assert_eq!(
            first_cert_der(&chain),
            Ok(labelled(&cert, "CERTIFICATE").expect("c")[0].clone())
        );
        assert_eq!(
            parse_key(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
            )
            .err(),
            Some("unsupported key type ENCRYPTED PRIVATE KEY".into())
        );
        assert!(
            parse_key("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----")
                .is_err_and(|e| e.contains("encrypted"))
        );
        assert_eq!(
            parse_key(&cert).err(),
            Some("no PRIVATE KEY block found".into())
        );
        assert_eq!(parse_key("").err(), Some("no PEM block found".into()));
    }

    #[test]
    fn openssl_pkcs1_and_sec1_keys_are_read() {
        for (cert, key) in [
            ("rsa-ca.crt", "rsa-pkcs1.key"),
            ("ec-ca.crt", "ec-sec1.key"),
        ] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
            let key_pem = std::fs::read_to_string(dir.join(key)).expect("key");
            let cert_pem = std::fs::read_to_string(dir.join(cert)).expect("cert");
            let pair = parse_key(&key_pem).expect(key);
            let der = first_cert_der(&cert_pem).expect(cert);
            let (_, x509) = x509_parser::parse_x509_certificate(&der).expect("x509");
            assert!(spki_matches(&x509, &pair), "{key} does not match {cert}");
        }
    }
}
