//! The notification kinds and everything that decides what is sent when: their settings, the
//! kinds themselves ([`kinds`]), the schedule that fires them ([`schedule`]), and the message
//! templates ([`render`]).
pub mod kinds;
pub mod render;
pub mod samples;
pub mod schedule;
pub mod settings;
pub mod targets;
