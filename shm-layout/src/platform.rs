//! The one list of chat platforms. Adding a platform means a variant here, a connector module in
//! `ingest`, and an entry in the UI's `PLATFORMS` (`gateway/assets/message.js`: name, mark,
//! colours) — scripts and units read the list from `ingest --list-platforms`, and tests check
//! every other copy against [`Platform::ALL`].

use serde::{Deserialize, Serialize};

/// The chat platform a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Platform {
    /// Twitch chat.
    Twitch,
    /// YouTube live chat.
    YouTube,
    /// Kick chat.
    Kick,
}

impl Platform {
    /// Every platform, in the order the UI and scripts list them.
    pub const ALL: [Platform; 3] = [Platform::Twitch, Platform::YouTube, Platform::Kick];

    /// The platform's position in [`Platform::ALL`]: the index of its entry in a per-platform
    /// array (`[T; Platform::ALL.len()]`), so such arrays need no match of their own.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The lower-case name used on command lines, socket names and URL paths (`twitch`, …).
    pub const fn slug(self) -> &'static str {
        match self {
            Platform::Twitch => "twitch",
            Platform::YouTube => "youtube",
            Platform::Kick => "kick",
        }
    }

    /// Every platform's slug, in [`Platform::ALL`]'s order (for tests, scripts and drivers that
    /// need the list as strings).
    pub const SLUGS: [&'static str; Platform::ALL.len()] = {
        let mut out = [""; Platform::ALL.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = Platform::ALL[i].slug();
            i += 1;
        }
        out
    };

    /// The display name used in messages (`Twitch`, `YouTube`, `Kick`).
    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Twitch => "Twitch",
            Platform::YouTube => "YouTube",
            Platform::Kick => "Kick",
        }
    }

    /// Parses a slug (`twitch`, `youtube`, `kick`), case-insensitively.
    pub fn from_slug(slug: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.slug().eq_ignore_ascii_case(slug))
    }

    /// The slugs joined by `sep` (for sentences and `--help`).
    pub fn slugs(sep: &str) -> String {
        Platform::ALL
            .iter()
            .map(|p| p.slug())
            .collect::<Vec<_>>()
            .join(sep)
    }
}

// `index` is the discriminant: the variants are declared in the order of `ALL`.
const _: () = {
    let mut i = 0;
    while i < Platform::ALL.len() {
        assert!(
            Platform::ALL[i] as usize == i,
            "Platform::ALL lists the variants in declaration order"
        );
        i += 1;
    }
};

/// Command lines take the slug (`--platform twitch`), so the flag's list is [`Platform::ALL`].
impl clap::ValueEnum for Platform {
    fn value_variants<'a>() -> &'a [Self] {
        &Platform::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.slug()).help(self.display_name()))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_slug(p.slug()), Some(p));
            assert_eq!(Platform::from_slug(&p.slug().to_uppercase()), Some(p));
        }
        assert_eq!(Platform::from_slug("myspace"), None);
        assert_eq!(Platform::slugs(","), "twitch,youtube,kick");
        for (i, p) in Platform::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
        }
    }
}
