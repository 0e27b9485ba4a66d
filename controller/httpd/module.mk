# The status page is embedded into swapd (www.c, .incbin): rebuild when a file changes.
$(BUILD)/obj/controller/httpd/www.o: $(wildcard controller/httpd/www/*)
