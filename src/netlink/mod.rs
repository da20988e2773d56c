//! Generic netlink plumbing shared by nf_tables, ctnetlink and rtnetlink:
//! message headers, attributes, and a blocking socket with ack handling.
