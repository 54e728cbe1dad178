pub mod language;
pub mod layout;
pub mod toast;
pub mod usage;
