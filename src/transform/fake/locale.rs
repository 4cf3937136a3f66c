//! The locales of the fake crate, by the name users write (`fr_fr`), and
//! `by_locale!`, which runs generic code on the locale's data type.

/// Locales of the fake crate, by the name users write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    FrFr,
    DeDe,
    ItIt,
    PtBr,
    PtPt,
    JaJp,
    ZhCn,
    ZhTw,
    ArSa,
    CyGb,
    FaIr,
    NlNl,
    TrTr,
}

pub(super) const LOCALES: &[(&str, Locale)] = &[
    ("en", Locale::En),
    ("fr_fr", Locale::FrFr),
    ("de_de", Locale::DeDe),
    ("it_it", Locale::ItIt),
    ("pt_br", Locale::PtBr),
    ("pt_pt", Locale::PtPt),
    ("ja_jp", Locale::JaJp),
    ("zh_cn", Locale::ZhCn),
    ("zh_tw", Locale::ZhTw),
    ("ar_sa", Locale::ArSa),
    ("cy_gb", Locale::CyGb),
    ("fa_ir", Locale::FaIr),
    ("nl_nl", Locale::NlNl),
    ("tr_tr", Locale::TrTr),
];

impl Locale {
    /// The name users write (`fr_fr`).
    pub(super) fn name(self) -> &'static str {
        LOCALES
            .iter()
            .find(|(_, l)| *l == self)
            .map(|(n, _)| *n)
            .expect("every locale is listed")
    }

    /// `fr_FR`, `fr-fr` and `fr_fr` are the same locale; `en_US` is `en`.
    pub(super) fn parse(s: &str) -> Result<Locale, String> {
        let norm = s.to_ascii_lowercase().replace('-', "_");
        let norm = if norm == "en_us" || norm == "en_gb" {
            "en".to_string()
        } else {
            norm
        };
        LOCALES
            .iter()
            .find(|(n, _)| *n == norm)
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                let names: Vec<&str> = LOCALES.iter().map(|(n, _)| *n).collect();
                format!("unknown locale `{s}`; locales: {}", names.join(", "))
            })
    }
}

/// `by_locale!(locale, L => expr)`: `expr` with `L` the fake crate's data
/// type of `locale`. The crate's fakers are generic over that type, so
/// each locale gets its own monomorphic copy of `expr`.
macro_rules! by_locale {
    ($locale:expr, $L:ident => $body:expr) => {{
        use ::fake::locales as fl;
        use $crate::transform::fake::locale::Locale as Lc;
        match $locale {
            Lc::En => {
                #[allow(non_snake_case)]
                let $L = fl::EN;
                $body
            }
            Lc::FrFr => {
                #[allow(non_snake_case)]
                let $L = fl::FR_FR;
                $body
            }
            Lc::DeDe => {
                #[allow(non_snake_case)]
                let $L = fl::DE_DE;
                $body
            }
            Lc::ItIt => {
                #[allow(non_snake_case)]
                let $L = fl::IT_IT;
                $body
            }
            Lc::PtBr => {
                #[allow(non_snake_case)]
                let $L = fl::PT_BR;
                $body
            }
            Lc::PtPt => {
                #[allow(non_snake_case)]
                let $L = fl::PT_PT;
                $body
            }
            Lc::JaJp => {
                #[allow(non_snake_case)]
                let $L = fl::JA_JP;
                $body
            }
            Lc::ZhCn => {
                #[allow(non_snake_case)]
                let $L = fl::ZH_CN;
                $body
            }
            Lc::ZhTw => {
                #[allow(non_snake_case)]
                let $L = fl::ZH_TW;
                $body
            }
            Lc::ArSa => {
                #[allow(non_snake_case)]
                let $L = fl::AR_SA;
                $body
            }
            Lc::CyGb => {
                #[allow(non_snake_case)]
                let $L = fl::CY_GB;
                $body
            }
            Lc::FaIr => {
                #[allow(non_snake_case)]
                let $L = fl::FA_IR;
                $body
            }
            Lc::NlNl => {
                #[allow(non_snake_case)]
                let $L = fl::NL_NL;
                $body
            }
            Lc::TrTr => {
                #[allow(non_snake_case)]
                let $L = fl::TR_TR;
                $body
            }
        }
    }};
}
pub(super) use by_locale;
