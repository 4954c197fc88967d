//! How a `COPY … FROM STDIN` input is laid out: text, CSV or binary, and
//! the options Postgres accepts for each.

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};

use crate::error::{Error, Result};

/// How COPY's input is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    pub csv: bool,
    pub binary: bool,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: Option<u8>,
}

impl CopyFormat {
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut csv = false;
        let mut binary = false;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = b'"';
        let mut escape = None;
        let single_byte = |c: char, what: &str| -> Result<u8> {
            u8::try_from(c as u32)
                .ok()
                .filter(|b| b.is_ascii())
                .ok_or_else(|| {
                    Error::FeatureNotSupported(format!(
                        "COPY {what} must be a single ASCII character"
                    ))
                })
        };
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_lowercase().as_str() {
                    "csv" => csv = true,
                    "text" => csv = false,
                    "binary" => binary = true,
                    other => {
                        return Err(Error::InvalidParameter(format!(
                            "COPY format \"{other}\" not recognized"
                        )));
                    }
                },
                CopyOption::Delimiter(c) => delimiter = Some(single_byte(*c, "delimiter")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = single_byte(*c, "quote")?,
                CopyOption::Escape(c) => escape = Some(single_byte(*c, "escape")?),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => {
                    return Err(Error::FeatureNotSupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv_options) => {
                    csv = true;
                    for o in csv_options {
                        match o {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = single_byte(*c, "quote")?,
                            CopyLegacyCsvOption::Escape(c) => {
                                escape = Some(single_byte(*c, "escape")?)
                            }
                            other => {
                                return Err(Error::FeatureNotSupported(format!(
                                    "COPY option {other} is not supported"
                                )));
                            }
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(single_byte(*c, "delimiter")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Binary => binary = true,
                other => {
                    return Err(Error::FeatureNotSupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        if header && !csv {
            return Err(Error::FeatureNotSupported(
                "COPY HEADER is available only in CSV mode".into(),
            ));
        }
        Ok(CopyFormat {
            csv,
            binary,
            delimiter: delimiter.unwrap_or(if csv { b',' } else { b'\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_defaults_follow_postgres() {
        let format = CopyFormat::from_options(
            &[
                CopyOption::Format(datafusion::sql::sqlparser::ast::Ident::new("csv")),
                CopyOption::Header(true),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(format.delimiter, b',');
        assert_eq!(format.null, "");
        assert!(format.header);
        let text = CopyFormat::from_options(&[], &[]).unwrap();
        assert_eq!(text.delimiter, b'\t');
        assert_eq!(text.null, "\\N");
    }
}
