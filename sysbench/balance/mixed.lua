#!/usr/bin/env sysbench
-- mixed.lua: one query per event, usually a point select, sometimes a
-- heavier range sum, for rwproxy's balancing experiment
-- (sysbench/balance). Uses the tables and statements of sysbench's
-- oltp_common.lua (prepare them with oltp_point_select prepare).
--
--   --range_pct=N    percent of events that are a range sum (default 10)
--   --range_size=N   rows per range sum (oltp_common's option, default 100)

require("oltp_common")

sysbench.cmdline.options.range_pct =
   {"Percentage of events that run a range sum instead of a point select", 10}

function prepare_statements()
   -- one statement of each kind per event
   sysbench.opt.point_selects = 1
   sysbench.opt.sum_ranges = 1
   prepare_point_selects()
   prepare_sum_ranges()
end

function event()
   if sysbench.rand.uniform(1, 100) <= sysbench.opt.range_pct then
      execute_sum_ranges()
   else
      execute_point_selects()
   end
end
