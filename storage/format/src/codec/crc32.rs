//! The stored chunk envelope: `payload ‖ crc32(payload)`, CRC-32 (IEEE) as 4 bytes
//! little-endian.

/// Appends the checksum of `payload` to it.
pub fn append_checksum(payload: &mut Vec<u8>) {
    let crc = crc32fast::hash(payload);
    payload.extend_from_slice(&crc.to_le_bytes());
}

/// The payload of a stored chunk when its trailing CRC32 matches.
pub fn checked_payload(stored: &[u8]) -> Option<&[u8]> {
    let (payload, crc) = split_checksum(stored)?;
    matches(payload, crc).then_some(payload)
}

/// A stored chunk's payload and the checksum stored after it (None when shorter
/// than a checksum).
pub fn split_checksum(stored: &[u8]) -> Option<(&[u8], u32)> {
    let split = stored.len().checked_sub(4)?;
    let (payload, crc) = stored.split_at(split);
    Some((payload, u32::from_le_bytes(crc.try_into().ok()?)))
}

/// Whether `payload` has the checksum `crc`.
pub fn matches(payload: &[u8], crc: u32) -> bool {
    crc32fast::hash(payload) == crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_crc_of_check_string() {
        // CRC-32/ISO-HDLC check value of "123456789".
        let mut v = b"123456789".to_vec();
        append_checksum(&mut v);
        assert_eq!(&v[9..], &0xCBF4_3926u32.to_le_bytes());
        assert_eq!(checked_payload(&v), Some(&b"123456789"[..]));
        v[0] ^= 1;
        assert_eq!(checked_payload(&v), None);
        assert_eq!(checked_payload(&[1, 2, 3]), None);
    }
}
