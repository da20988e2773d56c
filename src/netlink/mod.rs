//! Generic netlink plumbing shared by nf_tables, ctnetlink and rtnetlink:
//! attributes (`attr`: writer + non-panicking zero-copy parser), messages
//! (`msg`: nlmsghdr/nfgenmsg, multi-message buffers, NLMSG_ERROR with
//! extended ack), a libc socket with ack/dump/batch helpers (`socket`),
//! and errors that keep the errno (`error`). Protocol-specific code
//! (nf_tables in `crate::nft`, conntrack, links) builds on these.
#![allow(dead_code)] // a toolkit: not every helper has a user yet

pub mod attr;
pub mod error;
pub mod msg;
pub mod socket;

#[allow(unused_imports)] // re-exports for users in other modules
pub use attr::{Attr, AttrWriter, Attrs};
#[allow(unused_imports)]
pub use error::{errno_text, Error, KernelError};
#[allow(unused_imports)]
pub use msg::{parse_msgs, put_msg, Msg, NfGenMsg, NlMsgHdr};
#[allow(unused_imports)]
pub use socket::Socket;
