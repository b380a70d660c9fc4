//! Dispatch over the eleven element types.

/// Runs `$body` with `$a` bound to the typed array inside a [`Buffer`](crate::Buffer).
#[macro_export]
macro_rules! with_buffer {
    ($buf:expr, $a:ident => $body:expr) => {
        match $buf {
            $crate::Buffer::F32($a) => $body,
            $crate::Buffer::F64($a) => $body,
            $crate::Buffer::I8($a) => $body,
            $crate::Buffer::I16($a) => $body,
            $crate::Buffer::I32($a) => $body,
            $crate::Buffer::I64($a) => $body,
            $crate::Buffer::U8($a) => $body,
            $crate::Buffer::U16($a) => $body,
            $crate::Buffer::U32($a) => $body,
            $crate::Buffer::U64($a) => $body,
            $crate::Buffer::Bool($a) => $body,
        }
    };
}

/// Runs `$body` with the Rust element type of a [`DType`](crate::DType) bound to `$t`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DType::F64 => {
                type $t = f64;
                $body
            }
            $crate::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::DType::Bool => {
                type $t = bool;
                $body
            }
        }
    };
}
