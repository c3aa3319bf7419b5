set terminal pngcairo size 900,560 noenhanced font ',10'
set output 'cluster_tps.png'
set datafile separator ','
set key outside right
set grid
set title 'Local cluster n=4: throughput vs batch size (median)'
set logscale x
set xlabel 'batch size (tx)'
set ylabel 'tx/s'
plot 'cluster_tps.dat' using 2:(strcol(1) eq 'noop' ? $3 : NaN) with linespoints title 'SBFT noop', '' using 2:(strcol(1) eq 'noop' ? $4 : NaN) with linespoints title 'PBFT noop', '' using 2:(strcol(1) eq 'transfer' ? $3 : NaN) with linespoints title 'SBFT transfer', '' using 2:(strcol(1) eq 'transfer' ? $4 : NaN) with linespoints title 'PBFT transfer'
