//! Staff tokens (SPEC section 10): a signed, expiring JWT from the casino's
//! identity service names the staff member a transaction acts for.
//!
//! The signature is checked with `jsonwebtoken` (RustCrypto back end)
//! against the keys of `loyalty.trusted_key`; a key is chosen by the token's
//! `kid`, or by its algorithm when there is no `kid`, and its algorithm must
//! be the token's (an RSA public key is never used as an HMAC secret).  `exp`
//! is required and has no leeway; `sub` must be a staff id (a UUID).

use crate::domain::error::LoyaltyError;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Longest token accepted (a JWT with an RSA-4096 signature is about 1 KB).
pub const MAX_TOKEN_CHARS: usize = 8192;

/// The signature algorithms a trusted key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EdDSA,
    ES256,
    RS256,
    HS256,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 4] = [
        KeyAlgorithm::EdDSA,
        KeyAlgorithm::ES256,
        KeyAlgorithm::RS256,
        KeyAlgorithm::HS256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::HS256 => "HS256",
        }
    }

    pub fn parse(s: &str) -> Option<KeyAlgorithm> {
        KeyAlgorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::HS256 => Algorithm::HS256,
        }
    }
}

/// A row of `loyalty.trusted_key`: a public key in PEM (EdDSA, ES256,
/// RS256) or an HMAC secret (HS256, the text's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub key: String,
}

impl TrustedKey {
    fn decoding_key(&self) -> Result<DecodingKey, LoyaltyError> {
        let key = match self.algorithm {
            KeyAlgorithm::HS256 => Ok(DecodingKey::from_secret(self.key.as_bytes())),
            KeyAlgorithm::EdDSA => DecodingKey::from_ed_pem(self.key.as_bytes()),
            KeyAlgorithm::ES256 => DecodingKey::from_ec_pem(self.key.as_bytes()),
            KeyAlgorithm::RS256 => DecodingKey::from_rsa_pem(self.key.as_bytes()),
        };
        key.map_err(|_| {
            LoyaltyError::internal(format!(
                "trusted key {} is not a valid {} key",
                self.kid,
                self.algorithm.as_str()
            ))
        })
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffClaims {
    /// The staff id (`sub`), lowercase.
    pub staff_id: String,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: i64,
    /// The `casino` claim, when present.
    pub casino: Option<String>,
    /// The key that verified it.
    pub kid: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    casino: Option<String>,
}

/// Verifies a token against the trusted keys at `now` (Unix seconds).
/// `audience`, when set, must be among the token's `aud`.
pub fn verify(
    token: &str,
    keys: &[TrustedKey],
    now: i64,
    audience: Option<&str>,
) -> Result<StaffClaims, LoyaltyError> {
    let token = token.trim();
    if token.chars().count() > MAX_TOKEN_CHARS || token.chars().any(char::is_control) {
        return Err(refused("malformed", None));
    }
    let header = decode_header(token).map_err(|_| refused("malformed", None))?;
    let candidates: Vec<&TrustedKey> = match &header.kid {
        Some(kid) => keys.iter().filter(|k| &k.kid == kid).collect(),
        None => keys
            .iter()
            .filter(|k| k.algorithm.jwt() == header.alg)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(refused("unknown key", header.kid.as_deref()));
    }
    let mut last = refused("signature does not verify", header.kid.as_deref());
    for key in candidates {
        if key.algorithm.jwt() != header.alg {
            last = refused("algorithm does not match the key", Some(&key.kid));
            continue;
        }
        let mut validation = Validation::new(key.algorithm.jwt());
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        // jsonwebtoken checks `exp` against the system clock; check it
        // against `now` as well, so that the caller decides the time.
        match decode::<Claims>(token, &key.decoding_key()?, &validation) {
            Ok(data) => {
                let claims = data.claims;
                if claims.exp <= now {
                    return Err(refused("expired", Some(&key.kid)));
                }
                if claims.nbf.is_some_and(|nbf| nbf > now) {
                    return Err(refused("not valid yet", Some(&key.kid)));
                }
                let staff_id = staff_uuid(&claims.sub)
                    .ok_or_else(|| refused("sub is not a staff id", Some(&key.kid)))?;
                return Ok(StaffClaims {
                    staff_id,
                    expires_at: claims.exp,
                    casino: claims.casino,
                    kid: key.kid.clone(),
                });
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                let reason = match e.kind() {
                    K::ExpiredSignature => "expired",
                    K::InvalidSignature => "signature does not verify",
                    K::MissingRequiredClaim(_) => "a required claim (exp, sub, aud) is missing",
                    K::InvalidAudience => "audience does not match loyalty.staff_token_audience",
                    K::ImmatureSignature => "not valid yet",
                    _ => "malformed",
                };
                last = refused(reason, Some(&key.kid));
            }
        }
    }
    Err(last)
}

/// A staff id as a canonical lowercase UUID, if `sub` is one.
fn staff_uuid(sub: &str) -> Option<String> {
    let s = sub.trim().to_ascii_lowercase();
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let shape = s.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-')
        && hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit());
    shape.then_some(s)
}

fn refused(reason: &'static str, kid: Option<&str>) -> LoyaltyError {
    let mut context = vec![("reason", reason.to_string())];
    if let Some(kid) = kid {
        context.push(("kid", kid.to_string()));
    }
    LoyaltyError::PermissionDenied {
        message: format!("staff token rejected: {reason}"),
        context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "a shared secret for tests only";
    const STAFF: &str = "0b000000-0000-0000-0000-00000000005A";
    const NOW: i64 = 1_800_000_000;

    fn hs_key(kid: &str) -> TrustedKey {
        TrustedKey {
            kid: kid.into(),
            algorithm: KeyAlgorithm::HS256,
            key: SECRET.into(),
        }
    }

    fn hs_token(kid: Option<&str>, secret: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_string);
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn reason(e: LoyaltyError) -> String {
        assert_eq!(e.sqlstate(), "42501");
        e.context()
            .into_iter()
            .find(|(k, _)| *k == "reason")
            .map(|(_, v)| v)
            .unwrap()
    }

    #[test]
    fn a_valid_token_names_its_staff_member() {
        let t = hs_token(
            Some("k1"),
            SECRET,
            json!({"sub": STAFF, "exp": NOW + 60, "casino": "lv"}),
        );
        let c = verify(&t, &[hs_key("k1")], NOW, None).unwrap();
        assert_eq!(c.staff_id, STAFF.to_ascii_lowercase());
        assert_eq!(c.casino.as_deref(), Some("lv"));
        assert_eq!(c.kid, "k1");
        // Without a kid, the key is found by algorithm.
        let t = hs_token(None, SECRET, json!({"sub": STAFF, "exp": NOW + 60}));
        assert!(verify(&t, &[hs_key("k1")], NOW, None).is_ok());
    }

    #[test]
    fn every_way_a_token_can_be_wrong() {
        let keys = [hs_key("k1")];
        let claims = json!({"sub": STAFF, "exp": NOW + 60});
        let forged = hs_token(Some("k1"), "another secret", claims.clone());
        assert_eq!(
            reason(verify(&forged, &keys, NOW, None).unwrap_err()),
            "signature does not verify"
        );
        let unknown = hs_token(Some("k9"), SECRET, claims.clone());
        assert_eq!(
            reason(verify(&unknown, &keys, NOW, None).unwrap_err()),
            "unknown key"
        );
        let expired = hs_token(Some("k1"), SECRET, json!({"sub": STAFF, "exp": NOW}));
        assert_eq!(
            reason(verify(&expired, &keys, NOW, None).unwrap_err()),
            "expired"
        );
        let early = hs_token(
            Some("k1"),
            SECRET,
            json!({"sub": STAFF, "exp": NOW + 60, "nbf": NOW + 30}),
        );
        assert_eq!(
            reason(verify(&early, &keys, NOW, None).unwrap_err()),
            "not valid yet"
        );
        let started = hs_token(
            Some("k1"),
            SECRET,
            json!({"sub": STAFF, "exp": NOW + 60, "nbf": 0}),
        );
        assert!(verify(&started, &keys, NOW, None).is_ok());
        let no_exp = hs_token(Some("k1"), SECRET, json!({"sub": STAFF}));
        assert!(verify(&no_exp, &keys, NOW, None).is_err());
        let not_uuid = hs_token(Some("k1"), SECRET, json!({"sub": "alice", "exp": NOW + 60}));
        assert_eq!(
            reason(verify(&not_uuid, &keys, NOW, None).unwrap_err()),
            "sub is not a staff id"
        );
        for junk in ["", "a.b.c", "not a token", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(verify(junk, &keys, NOW, None).is_err(), "{junk}");
        }
        let with_aud = hs_token(
            Some("k1"),
            SECRET,
            json!({"sub": STAFF, "exp": NOW + 60, "aud": "crm"}),
        );
        assert!(verify(&with_aud, &keys, NOW, Some("loyalty")).is_err());
        assert!(verify(&with_aud, &keys, NOW, Some("crm")).is_ok());
        assert!(verify(
            &hs_token(Some("k1"), SECRET, claims),
            &keys,
            NOW,
            Some("loyalty")
        )
        .is_err());
    }

    #[test]
    fn public_key_algorithms() {
        for (alg, algorithm, private, public) in [
            (
                Algorithm::EdDSA,
                KeyAlgorithm::EdDSA,
                include_str!("../../tests/keys/ed25519.key.pem"),
                include_str!("../../tests/keys/ed25519.pub.pem"),
            ),
            (
                Algorithm::ES256,
                KeyAlgorithm::ES256,
                include_str!("../../tests/keys/es256.key.pem"),
                include_str!("../../tests/keys/es256.pub.pem"),
            ),
            (
                Algorithm::RS256,
                KeyAlgorithm::RS256,
                include_str!("../../tests/keys/rs256.key.pem"),
                include_str!("../../tests/keys/rs256.pub.pem"),
            ),
        ] {
            let encoding = match algorithm {
                KeyAlgorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
                KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(private.as_bytes()),
                _ => EncodingKey::from_rsa_pem(private.as_bytes()),
            }
            .unwrap();
            let mut header = Header::new(alg);
            header.kid = Some("pk".into());
            let claims = json!({"sub": STAFF, "exp": NOW + 60});
            let token = encode(&header, &claims, &encoding).unwrap();
            let key = TrustedKey {
                kid: "pk".into(),
                algorithm,
                key: public.into(),
            };
            let c = verify(&token, std::slice::from_ref(&key), NOW, None).unwrap();
            assert_eq!(c.staff_id, STAFF.to_ascii_lowercase(), "{alg:?}");
            // One changed character of the payload breaks the signature.
            let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
            let forged_claims =
                json!({"sub": "0b000000-0000-0000-0000-0000000000ff", "exp": NOW + 60});
            parts[1] = base64_url(&forged_claims.to_string());
            let forged = parts.join(".");
            assert_eq!(
                reason(verify(&forged, &[key], NOW, None).unwrap_err()),
                "signature does not verify",
                "{alg:?}"
            );
        }
    }

    fn base64_url(s: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_public_key_is_never_an_hmac_secret() {
        // An HS256 token signed with the text of a public key, presented
        // with that key's kid: the key's algorithm is not the token's.
        let public = TrustedKey {
            kid: "ed".into(),
            algorithm: KeyAlgorithm::EdDSA,
            key: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n".into(),
        };
        let t = hs_token(
            Some("ed"),
            &public.key,
            json!({"sub": STAFF, "exp": NOW + 60}),
        );
        assert_eq!(
            reason(verify(&t, &[public], NOW, None).unwrap_err()),
            "algorithm does not match the key"
        );
    }
}
