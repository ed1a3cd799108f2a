set terminal png size 900,550 font ",9" noenhanced
set output 'bench/results/restore-scaling/one-run/rss.png'
set title "licvault peak RSS against store size (/usr/bin/time -v)"
set xlabel "licenses in the store"
set ylabel "MiB"
set logscale x
set yrange [0:40]
set xtics ("10,000" 10000, "100,000" 100000, "1,000,000" 1000000)
set key outside right
set grid
plot for [i=2:29] 'bench/results/restore-scaling/one-run/rss.dat' using 1:i with linespoints title columnheader(i), 32 with lines dt 2 lc rgb "red" title "32 MiB target"
