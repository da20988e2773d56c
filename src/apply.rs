//! Apply: turn a `plan::Plan` into one atomic nf_tables batch that replaces
//! our tables, send it, then read the tables back and check them against
//! the plan. It never names a table that is not ours (`nftoffload*`).
