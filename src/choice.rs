//! Choices a user makes by name (`--on-error skip`, `--clock wall`): enums whose
//! variants have one name each, read with `FromStr` and written with `Display` from one
//! table ([`named_choices!`](crate::named_choices)).

/// Implements `Display` (the variant's name) and `FromStr` (a name to its variant, or
/// an error listing the names) for an enum, from `Enum { Variant => "name", ... }`.
#[macro_export]
macro_rules! named_choices {
    ($choice:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl std::fmt::Display for $choice {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($choice::$variant => $name,)+
                })
            }
        }

        impl std::str::FromStr for $choice {
            type Err = String;

            fn from_str(name: &str) -> Result<$choice, String> {
                match name {
                    $($name => Ok($choice::$variant),)+
                    _ => Err($crate::choice::unknown(name, &[$($name),+])),
                }
            }
        }
    };
}

/// The error for a name that is none of `names`: "`x` is neither a nor b" for two,
/// "`x` is not one of a, b, c" for more.
pub fn unknown(name: &str, names: &[&str]) -> String {
    match names {
        [a, b] => format!("`{name}` is neither {a} nor {b}"),
        _ => format!("`{name}` is not one of {}", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq)]
    enum Size {
        Small,
        Large,
    }
    crate::named_choices!(Size { Small => "small", Large => "large" });

    #[test]
    fn names_read_and_write_their_variants() {
        assert_eq!("large".parse::<Size>(), Ok(Size::Large));
        assert_eq!(Size::Small.to_string(), "small");
        assert_eq!(
            "medium".parse::<Size>(),
            Err("`medium` is neither small nor large".to_string())
        );
        assert_eq!(
            super::unknown("x", &["a", "b", "c"]),
            "`x` is not one of a, b, c"
        );
    }
}
