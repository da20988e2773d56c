//! The planner: a pure function from zones (mode, devices, device
//! capabilities) to the kernel objects we want: which devices go into the
//! software and hardware flowtables, which interface names the forward
//! rules match, and for each zone the effective mode with the reason when it
//! differs from the configured one. No I/O; every rule of the mode contract
//! is tested here.
