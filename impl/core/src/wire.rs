//! Kafka's primitive wire types, big-endian, as the record formats of [`crate::records`] and
//! [`crate::txn`] use them: `int8`–`int64`, unsigned varints, `string` and `compact_string`
//! (nullable or not), `bytes`, array lengths and tagged-field sections.
//!
//! [`Writer`] refuses a length its encoding cannot carry (a `string` of more than 32,767 bytes,
//! say) instead of writing a wrong prefix; [`Reader`] names what it could not read and at which
//! byte. Both report a [`WireError`], which each record module turns into its own error type.

/// What could not be written or read, and at which byte of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) what: String,
    pub(crate) at: usize,
}

impl WireError {
    pub(crate) fn new(at: usize, what: impl Into<String>) -> WireError {
        WireError {
            what: what.into(),
            at,
        }
    }
}

/// Big-endian writer of Kafka's primitive types; lengths that do not fit are errors.
#[derive(Debug, Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    /// The bytes written so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    /// How many bytes have been written: where the next one goes.
    pub(crate) fn position(&self) -> usize {
        self.0.len()
    }
    /// Bytes as they are, with no length.
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn i8(&mut self, v: i8) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn i16(&mut self, v: i16) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    /// An empty tagged-field section.
    pub(crate) fn no_tagged_fields(&mut self) {
        self.uvarint(0);
    }
    fn too_long(&self, what: &str, len: usize) -> WireError {
        WireError::new(
            self.position(),
            format!("{what} of length {len} does not fit Kafka's encoding"),
        )
    }
    /// A compact length: uvarint length + 1, which must fit an unsigned 32-bit int.
    fn compact_len(&mut self, what: &str, n: usize) -> Result<(), WireError> {
        let len = u32::try_from(n)
            .ok()
            .filter(|n| *n < u32::MAX)
            .ok_or_else(|| self.too_long(what, n))?;
        self.uvarint(u64::from(len) + 1);
        Ok(())
    }
    /// `string` (int16 length) or, flexible, `compact_string` (uvarint length + 1).
    pub(crate) fn string(&mut self, s: &str, flexible: bool) -> Result<(), WireError> {
        if flexible {
            self.compact_len("string", s.len())?;
        } else {
            let len = i16::try_from(s.len()).map_err(|_| self.too_long("string", s.len()))?;
            self.i16(len);
        }
        self.raw(s.as_bytes());
        Ok(())
    }
    /// A nullable `string` or `compact_string`: null is int16 -1, or compact 0.
    pub(crate) fn opt_string(&mut self, s: Option<&str>, flexible: bool) -> Result<(), WireError> {
        match s {
            Some(s) => self.string(s, flexible),
            None if flexible => {
                self.uvarint(0);
                Ok(())
            }
            None => {
                self.i16(-1);
                Ok(())
            }
        }
    }
    /// `bytes` (int32 length) or, flexible, `compact_bytes` (uvarint length + 1).
    pub(crate) fn bytes(&mut self, b: &[u8], flexible: bool) -> Result<(), WireError> {
        if flexible {
            self.compact_len("bytes", b.len())?;
        } else {
            let len = i32::try_from(b.len()).map_err(|_| self.too_long("bytes", b.len()))?;
            self.i32(len);
        }
        self.raw(b);
        Ok(())
    }
    /// An array length: `int32`, or flexible, uvarint length + 1.
    pub(crate) fn array_len(&mut self, n: usize, flexible: bool) -> Result<(), WireError> {
        if flexible {
            self.compact_len("array", n)
        } else {
            let len = i32::try_from(n).map_err(|_| self.too_long("array", n))?;
            self.i32(len);
            Ok(())
        }
    }
    /// A null array: int32 -1, or compact 0.
    pub(crate) fn null_array(&mut self, flexible: bool) {
        if flexible {
            self.uvarint(0);
        } else {
            self.i32(-1);
        }
    }
}

/// Reader of Kafka's primitive types that names what it could not read and at which byte.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }
    /// The position of the next byte to read.
    pub(crate) fn at(&self) -> usize {
        self.at
    }
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }
    fn err<T>(&self, at: usize, what: impl Into<String>) -> Result<T, WireError> {
        Err(WireError::new(at, what))
    }
    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.left();
        if left < n {
            return self.err(self.at, format!("{n} bytes needed, {left} left"));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn i8(&mut self) -> Result<i8, WireError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    pub(crate) fn i16(&mut self) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// An unsigned varint of at most 5 bytes (Kafka's `readUnsignedVarint`).
    pub(crate) fn uvarint(&mut self) -> Result<u64, WireError> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err(start, "unsigned varint longer than 5 bytes")
    }
    /// A length prefix, `None` for null: compact (uvarint length + 1, 0 for null), or `int32`
    /// when `wide`, else `int16` (-1 for null). `kind` names it in errors.
    fn length(
        &mut self,
        kind: &str,
        flexible: bool,
        wide: bool,
    ) -> Result<Option<usize>, WireError> {
        let at = self.at;
        let n: i64 = if flexible {
            self.uvarint()? as i64 - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => self.err(at, format!("negative {kind} length {n}")),
            n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }
    /// A nullable `string` or `compact_string`, which must be UTF-8.
    pub(crate) fn opt_string(&mut self, flexible: bool) -> Result<Option<String>, WireError> {
        let at = self.at;
        let Some(n) = self.length("string", flexible, false)? else {
            return Ok(None);
        };
        match std::str::from_utf8(self.take(n)?) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => self.err(at, "string is not UTF-8"),
        }
    }
    /// A non-null `string` or `compact_string`.
    pub(crate) fn string(&mut self, flexible: bool) -> Result<String, WireError> {
        let at = self.at;
        match self.opt_string(flexible)? {
            Some(s) => Ok(s),
            None => self.err(at, "null where a string is required"),
        }
    }
    /// Non-null `bytes` or `compact_bytes`.
    pub(crate) fn bytes(&mut self, flexible: bool) -> Result<Vec<u8>, WireError> {
        let at = self.at;
        match self.length("bytes", flexible, true)? {
            Some(n) => Ok(self.take(n)?.to_vec()),
            None => self.err(at, "null where bytes are required"),
        }
    }
    /// A nullable array's length. Every element takes a byte at least, so a length beyond the
    /// bytes left is refused before anything is read.
    pub(crate) fn opt_array_len(&mut self, flexible: bool) -> Result<Option<usize>, WireError> {
        let at = self.at;
        match self.length("array", flexible, true)? {
            Some(n) if n > self.left() => self.err(
                at,
                format!("array of {n} elements in {} bytes", self.left()),
            ),
            n => Ok(n),
        }
    }
    /// A non-null array's length.
    pub(crate) fn array_len(&mut self, flexible: bool) -> Result<usize, WireError> {
        let at = self.at;
        match self.opt_array_len(flexible)? {
            Some(n) => Ok(n),
            None => self.err(at, "null where an array is required"),
        }
    }
    /// Skips a tagged-field section: a count, then each field's tag, size and bytes.
    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), WireError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            self.take(usize::try_from(size).unwrap_or(usize::MAX))?;
        }
        Ok(())
    }
    /// Every byte must have been read.
    pub(crate) fn end(&self) -> Result<(), WireError> {
        match self.left() {
            0 => Ok(()),
            n => self.err(self.at, format!("{n} trailing bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_long_strings_are_refused() {
        let mut w = Writer::default();
        w.i16(7);
        let long = "x".repeat(i16::MAX as usize + 1);
        let e = w.string(&long, false).unwrap_err();
        assert_eq!(e.at, 2);
        assert!(
            e.what.contains("string of length 32768 does not fit"),
            "{e:?}"
        );
        // Nothing of the refused string was written.
        assert_eq!(w.position(), 2);
        assert!(w.opt_string(Some(&long), false).is_err());
        // The longest int16-length string, and the same string compact, fit.
        w.string(&long[1..], false).unwrap();
        w.string(&long, true).unwrap();
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.i16(), Ok(7));
        assert_eq!(r.string(false).map(|s| s.len()), Ok(32_767));
        assert_eq!(r.string(true).map(|s| s.len()), Ok(32_768));
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn varints_round_trip() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u64::from(u32::MAX), &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, want) in cases {
            let mut w = Writer::default();
            w.uvarint(v);
            let bytes = w.into_bytes();
            assert_eq!(bytes, want, "{v}");
            let mut r = Reader::new(&bytes);
            assert_eq!(r.uvarint(), Ok(v));
            assert_eq!(r.end(), Ok(()));
        }
        for shift in 0..32 {
            for v in [(1u64 << shift) - 1, 1 << shift, (1 << shift) + 1] {
                let mut w = Writer::default();
                w.uvarint(v);
                let bytes = w.into_bytes();
                let mut r = Reader::new(&bytes);
                assert_eq!(r.uvarint(), Ok(v));
                assert_eq!(r.end(), Ok(()));
            }
        }
        // A sixth byte is refused, named at the varint's first byte.
        let mut r = Reader::new(&[0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        r.u8().unwrap();
        let e = r.uvarint().unwrap_err();
        assert_eq!(
            (e.at, e.what.as_str()),
            (1, "unsigned varint longer than 5 bytes")
        );
    }

    #[test]
    fn short_input_names_what_is_missing_and_where() {
        let mut r = Reader::new(&[0, 5, b'a']);
        let e = r.string(false).unwrap_err();
        assert_eq!((e.at, e.what.as_str()), (2, "5 bytes needed, 1 left"));
    }
}
