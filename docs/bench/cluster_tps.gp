set terminal pngcairo size 900,560 noenhanced font ',10'
set output 'cluster_tps.png'
set datafile separator ','
set key outside right
set grid
set title 'Local cluster n=4,7: throughput vs batch size (median)'
set logscale x
set xlabel 'batch size (tx)'
set ylabel 'tx/s'
plot 'cluster_tps.dat' using 3:($1 == 4 && strcol(2) eq 'noop' ? $4 : NaN) with linespoints title 'SBFT noop n=4', '' using 3:($1 == 4 && strcol(2) eq 'noop' ? $5 : NaN) with linespoints title 'PBFT noop n=4', '' using 3:($1 == 4 && strcol(2) eq 'transfer' ? $4 : NaN) with linespoints title 'SBFT transfer n=4', '' using 3:($1 == 4 && strcol(2) eq 'transfer' ? $5 : NaN) with linespoints title 'PBFT transfer n=4', '' using 3:($1 == 7 && strcol(2) eq 'noop' ? $4 : NaN) with linespoints dt 2 title 'SBFT noop n=7', '' using 3:($1 == 7 && strcol(2) eq 'noop' ? $5 : NaN) with linespoints dt 2 title 'PBFT noop n=7', '' using 3:($1 == 7 && strcol(2) eq 'transfer' ? $4 : NaN) with linespoints dt 2 title 'SBFT transfer n=7', '' using 3:($1 == 7 && strcol(2) eq 'transfer' ? $5 : NaN) with linespoints dt 2 title 'PBFT transfer n=7'
