pub mod form;
pub mod language;
pub mod layout;
pub mod loaded;
pub mod role;
pub mod row_editor;
pub mod toast;
pub mod usage;
