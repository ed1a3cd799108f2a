set terminal pngcairo size 1100,400 font ",9" noenhanced
set output 'bench/results/restore-scaling/one-run/times.png'
set title "licvault (blue) against its peers (orange): median wall time, bars = min-max, 1,000,000 licenses"
set xlabel "seconds"
set style fill solid 0.8
set ytics nomirror
set yrange [-1:*] reverse
set grid xtics
unset key
plot 'bench/results/restore-scaling/one-run/times.dat' using (0):1:(0):3:($1-0.35):($1+0.35):($6==1?0x3070c0:0xe08030):ytic(2) with boxxyerror lc rgb variable, \
     '' using 3:1:4:5 with xerrorbars lc rgb "black" pt -1
