//! Opaque continue tokens: the snapshot revision and the last key returned, base64url
//! JSON, so every page of a list reads the same snapshot.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Revision, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continue {
    /// Snapshot revision of the list.
    #[serde(rename = "rv")]
    pub revision: Revision,
    /// Last key returned; the next page starts strictly after it.
    #[serde(rename = "start")]
    pub last_key: String,
}

impl Continue {
    pub fn encode(&self) -> String {
        // Serialising two plain fields cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a token and checks that it belongs to a list of `prefix`.
    pub fn decode(token: &str, prefix: &str) -> Result<Continue, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| StoreError::InvalidContinue("not base64".into()))?;
        let c: Continue = serde_json::from_slice(&bytes)
            .map_err(|_| StoreError::InvalidContinue("malformed".into()))?;
        if !c.last_key.starts_with(prefix) || c.revision == 0 {
            return Err(StoreError::InvalidContinue(
                "token does not belong to this list".into(),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let c = Continue {
            revision: 42,
            last_key: "/registry/a/b".into(),
        };
        let t = c.encode();
        assert_eq!(Continue::decode(&t, "/registry/a/").expect("decode"), c);
        assert!(Continue::decode(&t, "/registry/x/").is_err());
        assert!(Continue::decode("%%%", "/").is_err());
        assert!(Continue::decode("e30", "/").is_err());
    }
}
