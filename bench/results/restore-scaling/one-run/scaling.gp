set terminal png size 900,550 font ",9" noenhanced
set output 'bench/results/restore-scaling/one-run/scaling.png'
set title "restore from file://: median time per license against store size"
set xlabel "licenses"
set ylabel "microseconds per license"
set logscale x
set yrange [0:*]
set key outside right
set grid
plot for [i=2:6] 'bench/results/restore-scaling/one-run/scaling.dat' using 1:i with linespoints title columnheader(i)
