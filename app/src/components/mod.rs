pub mod language;
pub mod layout;
pub mod toast;
