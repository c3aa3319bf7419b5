set terminal pngcairo size 900,560 noenhanced font ',10'
set output 'sim_verifies.png'
set datafile separator ','
set key outside right
set grid
set title 'Simulator: verifications / height / replica'
set logscale xy
set xlabel 'replicas n'
set ylabel 'verifications / height / replica'
set xtics (4,7,16,31,64,128)
plot 'sim_verifies.dat' using 1:2 with linespoints title 'pbft', 'sim_verifies.dat' using 1:3 with linespoints title 'sbft-bcast-nofast', 'sim_verifies.dat' using 1:4 with linespoints title 'sbft-bcast-fast', 'sim_verifies.dat' using 1:5 with linespoints title 'sbft-coll-nofast', 'sim_verifies.dat' using 1:6 with linespoints title 'sbft-coll-fast'
