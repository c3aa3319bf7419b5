set terminal pngcairo size 900,560 noenhanced font ',10'
set output 'curve.png'
set datafile separator ','
set key outside right
set grid
set title 'Throughput-latency, open loop (n=4, batch 100, noop)'
set xlabel 'achieved tx/s'
set ylabel 'latency ms'
plot 'curve.csv' using (strcol(1) eq 'sbft' ? $3 : NaN):4 with linespoints title 'SBFT p50', '' using (strcol(1) eq 'sbft' ? $3 : NaN):5 with linespoints title 'SBFT p99', '' using (strcol(1) eq 'pbft' ? $3 : NaN):4 with linespoints title 'PBFT p50', '' using (strcol(1) eq 'pbft' ? $3 : NaN):5 with linespoints title 'PBFT p99'
