set terminal pngcairo size 900,560 noenhanced font ',10'
set output 'executor_speedup.png'
set datafile separator ','
set key outside right
set grid
set title 'Scheduler speedup vs serial (median)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -45
set ylabel 'throughput / serial'
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
plot 'executor_speedup.dat' using 2:xtic(1) title 'taskset w=1', '' using 3:xtic(1) title 'taskset w=2', '' using 4:xtic(1) title 'dag w=1', '' using 5:xtic(1) title 'dag w=2', '' using 6:xtic(1) title 'optimistic w=1', '' using 7:xtic(1) title 'optimistic w=2'
