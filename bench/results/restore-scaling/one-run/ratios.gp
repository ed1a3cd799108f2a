set terminal png size 1100,418 font ",9" noenhanced
set output 'bench/results/restore-scaling/one-run/ratios.png'
set title "ratio licvault / peer (median of per-round ratios, bars = min-max); black tick = target"
set xlabel "ratio"
set style fill solid 0.7
set yrange [-1:14] reverse
set grid xtics
unset key
plot 'bench/results/restore-scaling/one-run/ratios.dat' using (($3)/2):1:(($3)/2):(0.35):($3<=$6?0x40a040:0xd04040):ytic(2) with boxxy lc rgb variable, \
     '' using 3:1:4:5 with xerrorbars lc rgb "black" pt -1, \
     '' using 6:1 with points pt 7 ps 1.2 lc rgb "black"
