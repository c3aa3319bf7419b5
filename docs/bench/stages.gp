set terminal pngcairo size 1000,800 noenhanced font ',10'
set output 'stages.png'
set datafile separator ','
set key outside right
set grid
set title 'Stages against their limits (ratio, median with min-max)'
set key off
set style fill solid 0.6 border -1
set boxwidth 0.7
set xtics rotate by -60 font ',8'
set bmargin 26
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
plot 'stages.dat' using 0:2:xtic(1) with boxes, '' using 0:2:3:4 with yerrorbars lc 'black'
