//! Front ends: how events get in. The HTTP server (EventBridge's PutEvents and TestEventPattern over
//! AWS JSON 1.1, CloudEvents, plain JSON) and the pieces it is made of.

pub mod cloudevents;
pub mod plain;
pub mod putevents;
pub mod server;
pub mod sigv4;
