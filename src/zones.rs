//! Zone resolution: firewall zones → Linux devices. Owns the fw4 rules for
//! it: a zone's networks resolve through netifd to their L2 `device` (the
//! flowtable device) and `l3_device` (what rules match); `list device`
//! entries are taken as they are; hardware mode descends bridges and VLANs
//! to their lower ports through sysfs.
