//! A bounded big-endian reader for the formats whose every parse failure
//! is the opaque `InvalidCiphertextException` (ESDK messages, replication
//! packages). Never panics: reading past the end is that error.

use crate::error::{Error, Result};

/// The bytes and the offset read so far.
pub(crate) struct Reader<'a>(pub &'a [u8], pub usize);
impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        // checked: `n` comes from attacker-chosen length fields, and on a
        // 32-bit target (wasm32) `offset + n` can overflow.
        let end = self
            .1
            .checked_add(n)
            .ok_or_else(Error::invalid_ciphertext)?;
        let s = self
            .0
            .get(self.1..end)
            .ok_or_else(Error::invalid_ciphertext)?;
        self.1 = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    /// `n` bytes of UTF-8.
    pub fn utf8(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Error::invalid_ciphertext())
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// A length that overflows `offset + n` is the opaque parse error, not
    /// an arithmetic-overflow panic (debug builds) or a wrapped range.
    #[test]
    fn take_with_an_overflowing_length_is_an_error() {
        let data = [1u8, 2, 3, 4];
        let mut r = Reader(&data, 0);
        assert_eq!(r.u8().unwrap(), 1);
        let e = r.take(usize::MAX).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
        // The offset did not move: the rest still reads.
        assert_eq!(r.take(3).unwrap(), &[2, 3, 4]);
        assert_eq!(r.take(1).unwrap_err().code(), ErrorCode::InvalidCiphertext);
    }
}
