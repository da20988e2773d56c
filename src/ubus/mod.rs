//! ubus transport and object (to be written).
