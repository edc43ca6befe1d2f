//! `yamuxctl watch`: a live terminal UI of yamux connections, streams and
//! windows, fed by the relay or by a capture played back.
//!
//! Built like tokio-console: [`model`] is the state (pure, unit-tested),
//! [`input`] maps keys to actions (pure), [`ui`] renders `&App` into a frame,
//! [`source`] produces [`model::Event`]s (replay of a capture with a playback
//! clock) and [`term`] runs the terminal loop.

pub mod input;
pub mod model;
